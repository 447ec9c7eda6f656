"""Jobs of two training processes (ranks) through a real Celery worker: cancel, and a killed rank.

The worker advertises two CPU processes (ANNOTUNE_WORKER_DEVICES, the test's stand-in for a machine
with two devices); each job runs `accelerate launch` with two gloo ranks on the tiny model.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import psutil
import pytest

from serving.models import Adapter
from tests.workers import celery_worker, wait_for
from training.models import BaseModel, JobStatus, TrainingJob, TrainingMetric, TrainingWorker
from training.services.jobs import reap_stale_jobs

from .conftest import TINY_CONFIG
from .test_worker import WORKER_ENV, finished, job_row, launch

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TWO = {**TINY_CONFIG, "num_processes": 2, "device": "cpu"}


@pytest.fixture
def two_process_worker(project, owner, approve, tiny_models, training_folders):
    project.base_model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 24)

    def start(**env):
        return celery_worker(
            "training", env={**WORKER_ENV, **training_folders, "ANNOTUNE_WORKER_DEVICES": "cpu:2", **env}
        )

    return start


def rank_pids(job: TrainingJob) -> list[int]:
    """The ranks' pids, from the line the worker logs when rank 0 reports them (the latest attempt's)."""
    found = re.findall(r"2 training processes \(ranks 0-1\): pids (\d+), (\d+)", job.log_tail)
    return [int(pid) for pid in found[-1]] if found else []


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cancel_stops_both_ranks_and_leaves_no_process(api, project, owner, two_process_worker):
    client = api(owner)
    with two_process_worker(ANNOTUNE_TRAINING_STEP_DELAY_MS="400"):
        worker = TrainingWorker.objects.get()
        assert (worker.device_type, worker.devices, worker.queues) == ("cpu", 2, ["training.cpu", "training.cpu.x2"])
        pk = launch(client, project, config={**TWO, "max_steps": 200})
        job = wait_for(lambda: (j := job_row(pk)).step >= 2 and rank_pids(j) and j, 300, message="two ranks at step 2")
        assert job.queue == "training.cpu.x2"
        processes = [job.child_pid, *rank_pids(job)]  # the launcher and its two ranks
        assert all(alive(pid) for pid in processes)
        response = client.post(f"/api/v1/projects/{project.pk}/training-jobs/{pk}/cancel/")
        assert response.status_code == 200
        cancelled = wait_for(lambda: finished(pk), 120, message="the cancel to take effect")
        wait_for(lambda: not any(alive(pid) for pid in processes), 30, message="every rank to exit")
    assert cancelled.status == JobStatus.CANCELLED, (cancelled.error, cancelled.log_tail)
    assert 2 <= cancelled.step < 200
    assert "killed after the grace period" not in cancelled.log_tail  # both ranks stopped when asked
    assert not Adapter.objects.filter(job_id=pk).exists()


def test_a_killed_rank_fails_the_attempt_and_the_job_resumes_to_success(api, project, owner, two_process_worker):
    client = api(owner)
    config = {**TWO, "max_steps": 10, "save_steps": 3}
    with two_process_worker(ANNOTUNE_TRAINING_STEP_DELAY_MS="300") as worker:
        pk = launch(client, project, config=config)
        job = wait_for(lambda: (j := job_row(pk)).step >= 5 and rank_pids(j) and j, 300, message="step 5")
        assert (Path(job.checkpoint_dir) / "checkpoints" / "checkpoint-3").is_dir()
        first_ranks = rank_pids(job)
        os.kill(first_ranks[1], signal.SIGKILL)  # rank 1, not the process the worker started
        killed_at_step = job.step
        # The launcher ends the other rank and exits; the worker stops the heartbeat; the reaper re-queues.
        wait_for(lambda: reap_stale_jobs(stale_after=3)["requeued"] == [pk], 120, interval=0.5, message="the reaper")
        job = wait_for(lambda: finished(pk), 300, message="the resumed job to finish")
        log = Path(worker.log_path).read_text()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail, log[-3000:])
    assert not any(alive(pid) for pid in first_ranks)
    assert job.attempts == 2
    assert 3 <= job.resumed_from_step <= killed_at_step
    assert "exited abnormally" in job.log_tail
    assert "resumed from the checkpoint" in job.log_tail
    assert rank_pids(job) != first_ranks  # two fresh ranks on the second attempt
    assert job.step == 10
    assert list(TrainingMetric.objects.filter(job_id=pk).values_list("step", flat=True)) == list(range(1, 11))
    assert Adapter.objects.filter(job_id=pk).exists()
