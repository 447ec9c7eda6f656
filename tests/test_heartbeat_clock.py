"""Heartbeats are written and judged by the database's clock (annotune/heartbeat.py).

A worker whose clock runs ten minutes behind writes its heartbeats, then the reaper (and the web's
liveness checks) look with the true clock: the worker's live work is not taken back. A row that
really went silent is still reaped. The skew is made by patching `django.utils.timezone.now`, which
every writer and reader of these columns calls when it uses its own clock.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models.functions import Now
from django.utils import timezone

from annotation.models import ValidationRun
from annotation.services import validation_runs
from curated_data.models import ImportJob
from curated_data.services import import_reaper, imports
from serving.models import GenerationRequest
from serving.services import generation
from serving.services.reaper import reap_generations
from tests.serving.scripted_backend import Scripted, finished
from training.models import BaseModel, JobStatus, TrainingJob, TrainingWorker
from training.processes.routing import Capacity
from training.selectors.workers import worker_list
from training.services.configs import resolve_config
from training.services.execution import JobReporter, job_claim
from training.services.jobs import reap_stale_jobs
from training.services.workers import worker_register

pytestmark = pytest.mark.django_db

BEHIND = timedelta(minutes=10)
STALE_AFTER = 120  # seconds: far less than the skew


class Clock:
    """`timezone.now` shifted by `offset` (this process's clock, as another machine's would be)."""

    def __init__(self) -> None:
        self.real = timezone.now
        self.offset = timedelta(0)

    def now(self):
        return self.real() + self.offset


@pytest.fixture
def clock():
    clock = Clock()
    with mock.patch("django.utils.timezone.now", clock.now):
        yield clock


@pytest.fixture
def base_model(db):
    return BaseModel.objects.create(name="nowhere", source="/nonexistent/model", architecture="LlamaForCausalLM")


def make_job(project, owner, base_model) -> TrainingJob:
    return TrainingJob.objects.create(
        project=project,
        base_model=base_model,
        train_path="training/x/train.jsonl",
        dataset_sha256="0" * 64,
        method="lora",
        config=resolve_config(preset=None, config={"method": "lora", "max_steps": 4}),
        created_by=owner,
        max_attempts=3,
    )


def test_training_job_of_a_worker_whose_clock_is_behind_is_not_reaped(project, owner, base_model, clock):
    job = make_job(project, owner, base_model)
    clock.offset = -BEHIND  # the worker's machine
    assert job_claim(job.pk, worker="slow-clock") is not None
    job.refresh_from_db()
    reporter = JobReporter(job)
    assert reporter.update(step=1)
    clock.offset = timedelta(0)  # the reaper's machine
    assert reap_stale_jobs(stale_after=STALE_AFTER)["requeued"] == []
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.RUNNING

    # A worker really silent for ten minutes is still taken for dead.
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=Now() - BEHIND)
    assert reap_stale_jobs(stale_after=STALE_AFTER)["requeued"] == [job.pk]
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_training_job_is_not_reaped_by_a_reaper_whose_clock_is_ahead(project, owner, base_model, clock):
    job = make_job(project, owner, base_model)
    job_claim(job.pk, worker="w")
    clock.offset = BEHIND  # the reaper's machine runs ten minutes ahead
    assert reap_stale_jobs(stale_after=STALE_AFTER)["requeued"] == []
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_import_of_a_worker_whose_clock_is_behind_is_not_reaped(project, owner, settings, clock):
    settings.ANNOTUNE_IMPORT_STALE_SECONDS = STALE_AFTER
    upload = SimpleUploadedFile("r.jsonl", b'{"messages": [{"role": "user", "content": "Hi"}]}\n')
    job = imports.import_create(project=project, user=owner, upload=upload)  # no commit: no message runs it
    seen = {}

    def run_while_the_reaper_looks(job, timer):
        clock.offset = timedelta(0)  # the reaper's and the web's machine
        seen["stale"] = imports.is_stale(ImportJob.objects.get(pk=job.pk))
        seen["reaped"] = import_reaper.reap_imports()
        seen["status"] = ImportJob.objects.get(pk=job.pk).status

    clock.offset = -BEHIND  # the worker's machine claims the import
    with mock.patch.object(imports, "_run", run_while_the_reaper_looks):
        imports.import_run(job_id=job.pk)
    assert seen["stale"] is False
    assert (seen["reaped"]["requeued"], seen["reaped"]["failed"]) == ([], [])
    assert seen["status"] == "running"

    ImportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=Now() - BEHIND)
    assert imports.is_stale(ImportJob.objects.get(pk=job.pk))
    assert import_reaper.reap_imports()["requeued"] == [job.pk]


def test_data_health_run_of_a_worker_whose_clock_is_behind_is_not_reaped(project, owner, settings, clock):
    settings.ANNOTUNE_VALIDATION_STALE_SECONDS = STALE_AFTER
    run = ValidationRun.objects.create(project=project, created_by=owner)
    seen = {}

    def compute_while_the_reaper_looks(run, mine):
        clock.offset = timedelta(0)
        seen["reaped"] = validation_runs.reap_runs()
        seen["status"] = ValidationRun.objects.get(pk=run.pk).status

    clock.offset = -BEHIND
    with mock.patch.object(validation_runs, "_compute", compute_while_the_reaper_looks):
        validation_runs.run_execute(run.pk)
    assert (seen["reaped"]["requeued"], seen["reaped"]["failed"]) == ([], [])
    assert seen["status"] == "running"

    ValidationRun.objects.filter(pk=run.pk).update(heartbeat_at=Now() - BEHIND)
    assert validation_runs.reap_runs()["requeued"] == [run.pk]


def test_generation_of_a_worker_whose_clock_is_behind_is_not_failed(project, owner, base_model, settings, clock):
    settings.ANNOTUNE_GENERATE_STALE_SECONDS = STALE_AFTER
    row = GenerationRequest.objects.create(
        project=project,
        base_model=base_model,
        messages=[{"role": "user", "content": "Hi"}],
        targets=[{"adapter_id": None, "label": "Base model"}],
        created_by=owner,
    )
    seen = {}

    def answer_while_the_reaper_looks(report):
        clock.offset = timedelta(0)
        seen["stale"] = reap_generations()["stale"]
        return finished("Hello!")

    clock.offset = -BEHIND
    assert generation.generation_execute(row.pk, Scripted(answer_while_the_reaper_looks)) == "succeeded"
    assert seen["stale"] == []
    row.refresh_from_db()
    assert row.status == "succeeded"

    GenerationRequest.objects.filter(pk=row.pk).update(status="running", started_at=Now() - BEHIND)
    assert reap_generations()["stale"] == [row.pk]


def test_training_worker_whose_clock_is_behind_is_live(clock):
    capacity = Capacity("cpu", 1, 1024)
    clock.offset = -BEHIND
    worker_register(name="slow@clock", hostname="h", pid=1, capacity=capacity, queues=["training"])
    clock.offset = timedelta(0)
    assert [(row.worker.name, row.live) for row in worker_list()] == [("slow@clock", True)]

    TrainingWorker.objects.filter(name="slow@clock").update(heartbeat_at=Now() - BEHIND)
    assert [(row.worker.name, row.live) for row in worker_list()] == [("slow@clock", False)]
