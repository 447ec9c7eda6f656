"""Device-aware routing with real worker processes: each worker gets only the jobs that fit it.

Two workers advertise different capacities through ANNOTUNE_WORKER_DEVICES (the test's stand-in for
different machines; detection itself is tested in tests/training/engine/test_devices.py): one CPU
process, and one "CUDA device". This machine has no GPU, so the CUDA worker's job trains on the CPU,
which is beside the point: what matters is which worker takes which job.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.models import Adapter
from tests.workers import celery_worker, wait_for
from training.models import BaseModel, JobStatus, TrainingJob, TrainingWorker

from .conftest import TINY_CONFIG, estimated
from .test_worker import WORKER_ENV, finished

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_each_worker_takes_the_jobs_that_fit_it_and_a_job_none_fits_is_refused(
    api, project, owner, approve, tiny_models, training_folders
):
    project.base_model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 24)
    client = api(owner)
    url = f"/api/v1/projects/{project.pk}/training-jobs/"
    env = {**WORKER_ENV, **training_folders}
    with (
        celery_worker("training", env={**env, "ANNOTUNE_WORKER_DEVICES": "cpu:1:4096"}) as cpu,
        celery_worker("training", env={**env, "ANNOTUNE_WORKER_DEVICES": "cuda:1:4096"}) as gpu,
    ):
        adverts = {w.device_type: w for w in TrainingWorker.objects.all()}
        assert adverts["cpu"].queues == ["training.cpu"]
        assert adverts["cuda"].queues == ["training.cuda"]

        # More memory than any worker has (64 x 8192 tokens: about 7.4 GiB): refused, nothing queued.
        for device in ("cuda", "cpu"):
            estimated(project.base_model, config={**TINY_CONFIG, "device": device})
        estimated(project.base_model, config={**TINY_CONFIG, "batch_size": 64, "max_seq_length": 8192})
        response = client.post(
            url, {"config": {**TINY_CONFIG, "batch_size": 64, "max_seq_length": 8192}}, format="json"
        )
        assert response.status_code == 400, response.json()
        detail = response.json()["detail"]
        assert "No training worker could ever take this job" in detail
        assert f"{adverts['cpu'].name}: it has 4.0 GiB of memory" in detail
        assert f"{adverts['cuda'].name}: each of its devices has 4.0 GiB" in detail
        assert not TrainingJob.objects.exists()

        gpu_job = client.post(url, {"config": {**TINY_CONFIG, "device": "cuda"}}, format="json").json()["id"]
        cpu_job = client.post(url, {"config": {**TINY_CONFIG, "device": "cpu"}}, format="json").json()["id"]
        done = {pk: wait_for(lambda pk=pk: finished(pk), 400, message=f"job {pk}") for pk in (gpu_job, cpu_job)}
    logs = {"cpu": Path(cpu.log_path).read_text(), "cuda": Path(gpu.log_path).read_text()}  # workers stopped

    for job in done.values():
        assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail, logs)
        assert Adapter.objects.filter(job_id=job.pk).exists()
    assert (done[gpu_job].queue, done[gpu_job].worker) == ("training.cuda", adverts["cuda"].name)
    assert (done[cpu_job].queue, done[cpu_job].worker) == ("training.cpu", adverts["cpu"].name)
    # The CPU worker never even received a CUDA job's message.
    assert logs["cpu"].count("] received") == 1  # one message: its own job's
    assert logs["cuda"].count("] received") == 1
    assert "does-not-fit" not in logs["cpu"] + logs["cuda"]
    assert all(w.stopped_at is not None for w in TrainingWorker.objects.all())  # marked at shutdown
