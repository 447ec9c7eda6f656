"""The worker's reporter while the engine runs: a database that is away for a moment does not end the job."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.db.models.query import QuerySet
from django.utils import timezone

from training.models import JobStatus, TrainingJob, TrainingMetric
from training.services.execution import JobReporter, job_claim

from .test_services import make_job

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def database_away():
    """Row writes and reads raise as they do while PostgreSQL restarts, until the block ends."""

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.MonkeyPatch.context() as patch:
        for name in ("update", "exists", "get_or_create"):
            patch.setattr(QuerySet, name, down)
        yield


def test_a_database_blip_while_training_neither_stops_nor_fails_the_job(project, owner, fake_base_model):
    job = make_job(project, owner, fake_base_model)
    assert job_claim(job.pk) is not None
    job.refresh_from_db()
    reporter = JobReporter(job)

    # The heartbeat, a progress report and the start note fail: training goes on (no stop asked),
    # nothing raises into the supervising loop (which would kill the engine and fail the job).
    with database_away():
        reporter.on_start(4242)
        assert reporter.on_tick() is False
        reporter.on_progress({"event": "log", "step": 3, "max_steps": 10, "loss": 1.5})
    assert reporter.lost is False

    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=1))
    assert reporter.on_tick() is False  # back: the heartbeat is written again, still ours
    reporter.on_progress({"event": "log", "step": 4, "max_steps": 10, "loss": 1.25})
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.step == 4
    assert job.heartbeat_at > timezone.now() - timedelta(seconds=30)
    assert list(TrainingMetric.objects.filter(job=job).values_list("step", flat=True)) == [4]

    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert reporter.on_tick() is True  # a cancel is still seen


@pytest.mark.django_db(transaction=True)
def test_the_row_beats_while_the_worker_fetches_the_jobs_files(project, owner, fake_base_model, settings, monkeypatch):
    """Before the engine runs (and ticks), the dataset, a stored checkpoint or a parent adapter are fetched:
    on a slow storage that outlasts the reaper's patience unless the row beats meanwhile."""
    from training.services import execution

    settings.TRAINING_HEARTBEAT_SECONDS = 0.2
    job = make_job(project, owner, fake_base_model)
    assert job_claim(job.pk) is not None
    claimed_beat = TrainingJob.objects.get(pk=job.pk).heartbeat_at
    seen = []

    def slow_download(storage_path, target):
        time.sleep(1.5)
        seen.append(TrainingJob.objects.get(pk=job.pk).heartbeat_at)
        raise OSError("storage gone")

    monkeypatch.setattr(execution, "download_to", slow_download)
    job.refresh_from_db()
    assert execution._execute(job, JobReporter(job)) == "failed"
    assert seen[0] > claimed_beat
    assert TrainingJob.objects.get(pk=job.pk).error_code == "invalid_data"


def test_a_job_past_the_time_limit_fails_saying_so(project, owner, fake_base_model, settings, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    from training.services import execution

    def too_long(job, reporter):
        raise SoftTimeLimitExceeded()

    settings.TRAINING_TIME_LIMIT_SECONDS = 48 * 3600
    monkeypatch.setattr(execution, "_execute", too_long)
    job = make_job(project, owner, fake_base_model)
    assert execution.job_execute(job.pk) == "failed"
    job.refresh_from_db()
    assert (job.status, job.error_code) == (JobStatus.FAILED, "time_limit")
    assert "training time limit (48 h)" in job.error
    assert "ANNOTUNE_TRAINING_TIME_LIMIT_SECONDS" in job.error


def test_an_adapter_is_made_of_this_attempts_files_not_a_dead_attempts_leftovers(
    project, owner, fake_base_model, settings, tmp_path
):
    """A worker killed while it copied the adapter to storage leaves files and no row; the attempt that
    finishes the job later must store its own files under the names the adapter is read from."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from serving.models import Adapter
    from training.processes import runner
    from training.services import execution

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    job = make_job(project, owner, fake_base_model)
    prefix = f"adapters/project-{project.pk}/job-{job.pk}"
    default_storage.save(f"{prefix}/adapter_model.safetensors", ContentFile(b"half of attempt 1"))
    assert job_claim(job.pk) is not None
    job.refresh_from_db()
    output = tmp_path / "work" / "output"
    (output / "adapter").mkdir(parents=True)
    (output / "adapter" / "adapter_config.json").write_text("{}")
    (output / "adapter" / "adapter_model.safetensors").write_bytes(b"attempt 2")
    result = {"adapter_dir": str(output / "adapter"), "metrics": {"global_step": 3}}
    outcome = runner.ChildOutcome(status=runner.SUCCEEDED, result=result)

    assert execution.finish_outcome(JobReporter(job), outcome, output) == "succeeded"
    adapter = Adapter.objects.get(job=job)
    assert adapter.storage_path == prefix
    with default_storage.open(f"{prefix}/adapter_model.safetensors") as handle:
        assert handle.read() == b"attempt 2"
    assert sorted(default_storage.listdir(prefix)[1]) == ["adapter_config.json", "adapter_model.safetensors"]
