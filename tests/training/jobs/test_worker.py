"""Jobs through a real Celery worker process: train, cancel, and survive a killed engine process.

Tiny real models (random weights) train for a few steps; the worker runs the engine in a child process.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from serving.models import Adapter
from tests.workers import celery_worker, wait_for
from training.models import BaseModel, JobStatus, TrainingJob, TrainingMetric
from training.services.jobs import reap_stale_jobs

from .conftest import TINY_CONFIG, estimated

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {"ANNOTUNE_TRAINING_HEARTBEAT_SECONDS": "1", "ANNOTUNE_TRAINING_CANCEL_GRACE_SECONDS": "20"}


def job_row(pk: int) -> TrainingJob:
    return TrainingJob.objects.get(pk=pk)


def finished(pk: int):
    job = job_row(pk)
    return job if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) else None


def launch(client, project, **body) -> int:
    """Launch through the API with the estimate kept (only a training worker runs here)."""
    estimated(project.base_model, preset=body.get("preset"), config=body.get("config"))
    response = client.post(f"/api/v1/projects/{project.pk}/training-jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


@pytest.mark.parametrize(("arch", "method"), [("llama", "qlora"), ("mistral", "lora")])
def test_job_trains_through_the_worker_and_attaches_an_adapter(
    arch, method, api, project, owner, approve, tiny_models, training_folders
):
    project.base_model = BaseModel.objects.create(name=f"tiny-{arch}", source=tiny_models(arch))
    project.save()
    approve(project, owner, 24)
    client = api(owner)
    with celery_worker("training", env={**WORKER_ENV, **training_folders}) as worker:
        pk = launch(client, project, preset="quick", config={**TINY_CONFIG, "method": method})
        assert client.get(f"/api/v1/projects/{project.pk}/training-jobs/{pk}/").json()["status"] in {
            "queued",
            "running",
        }
        wait_for(lambda: TrainingMetric.objects.filter(job_id=pk).exists(), 240, message="the first metric row")
        job = wait_for(lambda: finished(pk), 300, message="the job to finish")
        log = Path(worker.log_path).read_text()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail, log[-3000:])
    assert job.step == 4
    assert job.max_steps == 4
    assert job.attempts == 1
    steps = list(TrainingMetric.objects.filter(job_id=pk).values_list("step", flat=True))
    assert steps == [1, 2, 3, 4]
    assert job.loss is not None
    assert job.heartbeat_at is not None
    assert job.finished_at is not None
    assert "CPU priority nice 10" in job.log_tail  # the engine yields the CPU to the web (the default)

    adapter = Adapter.objects.get(job_id=pk)
    assert adapter.project_id == project.pk
    assert adapter.method == method
    root = Path(training_folders["ANNOTUNE_STORAGE_ROOT"]) / adapter.storage_path
    assert (root / "adapter_config.json").is_file()
    assert (root / "adapter_model.safetensors").is_file()
    assert (root / "README.md").is_file()
    assert adapter.model_card
    assert adapter.size_bytes > 0
    assert adapter.lineage["dataset_sha256"] == job.dataset_sha256
    assert len(job.dataset_sha256) == 64
    assert adapter.lineage["config"]["method"] == method
    assert adapter.lineage["seed"] == 42
    assert adapter.lineage["package_versions"].get("torch")
    assert adapter.metrics["val_loss_base"] is not None
    assert adapter.metrics["val_loss_adapter"] is not None
    assert adapter.samples
    assert {"prompt", "before", "after"} <= set(adapter.samples[0])

    detail = client.get(f"/api/v1/projects/{project.pk}/training-jobs/{pk}/adapter/").json()
    assert detail["id"] == adapter.pk
    assert detail["lineage"]["base_model"]["source"] == "local folder"  # server paths: staff only
    assert adapter.lineage["base_model"]["source"] == str(tiny_models(arch))
    metrics = client.get(f"/api/v1/projects/{project.pk}/training-jobs/{pk}/metrics/?after=2").json()
    assert [m["step"] for m in metrics] == [3, 4]
    pages = Client()
    pages.force_login(owner)
    page = pages.get(f"/projects/{project.pk}/training/{pk}/")
    assert page.status_code == 200
    assert adapter.name.encode() in page.content


def test_cancel_mid_run_then_the_worker_takes_the_next_job(api, project, owner, approve, tiny_models, training_folders):
    project.base_model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 24)
    client = api(owner)
    env = {**WORKER_ENV, **training_folders, "ANNOTUNE_TRAINING_STEP_DELAY_MS": "400"}
    with celery_worker("training", env=env):
        long_job = launch(client, project, config={**TINY_CONFIG, "max_steps": 200})
        next_job = launch(client, project, config=TINY_CONFIG)  # waits behind the first (one at a time)
        wait_for(lambda: job_row(long_job).step >= 2, 240, message="the long job to make progress")
        response = client.post(f"/api/v1/projects/{project.pk}/training-jobs/{long_job}/cancel/")
        assert response.status_code == 200
        assert response.json()["cancel_requested"]
        cancelled = wait_for(lambda: finished(long_job), 120, message="the cancel to take effect")
        done = wait_for(lambda: finished(next_job), 300, message="the next job to finish")
    assert cancelled.status == JobStatus.CANCELLED, (cancelled.error, cancelled.log_tail)
    assert 2 <= cancelled.step < 200
    assert not Adapter.objects.filter(job_id=long_job).exists()
    assert done.status == JobStatus.SUCCEEDED, (done.error, done.log_tail)
    assert Adapter.objects.filter(job_id=next_job).exists()


def test_killed_engine_process_is_resumed_from_its_checkpoint_by_the_reaper(
    api, project, owner, approve, tiny_models, training_folders
):
    project.base_model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 24)
    client = api(owner)
    env = {**WORKER_ENV, **training_folders, "ANNOTUNE_TRAINING_STEP_DELAY_MS": "300"}
    config = {**TINY_CONFIG, "max_steps": 10, "save_steps": 3}
    with celery_worker("training", env=env) as worker:
        pk = launch(client, project, config=config)
        job = wait_for(lambda: (j := job_row(pk)).step >= 5 and j.child_pid and j, 240, message="step 5")
        checkpoints = Path(job.checkpoint_dir) / "checkpoints"
        assert (checkpoints / "checkpoint-3").is_dir()
        os.kill(job.child_pid, signal.SIGKILL)
        killed_at_step = job.step
        # The worker leaves the job running without a heartbeat; the reaper (as beat would) re-queues it.
        wait_for(lambda: reap_stale_jobs(stale_after=3)["requeued"] == [pk], 60, interval=0.5, message="the reaper")
        job = wait_for(lambda: finished(pk), 300, message="the resumed job to finish")
        log = Path(worker.log_path).read_text()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail, log[-3000:])
    assert job.attempts == 2
    assert job.resumed_from_step is not None
    assert 3 <= job.resumed_from_step <= killed_at_step
    assert job.result["metrics"]["resumed_from_step"] == job.resumed_from_step
    assert "exited abnormally" in job.log_tail
    assert "resumed from the checkpoint" in job.log_tail
    assert job.step == 10
    steps = list(TrainingMetric.objects.filter(job_id=pk).values_list("step", flat=True))
    assert steps == list(range(1, 11))
    assert Adapter.objects.filter(job_id=pk).exists()
    assert django_settings.TRAINING_STALE_AFTER_SECONDS > 3  # the default is untouched by the test
