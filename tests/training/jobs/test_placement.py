"""Where a launched job goes: the advertised workers decide its device class and queue, or refuse it.

No worker processes here: adverts are written as the workers write them (services.workers). The
estimate is given as numbers (building it runs the engine in a subprocess, tested elsewhere).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from training.models import JobStatus, TrainingJob, TrainingWorker
from training.processes.routing import Capacity
from training.services import execution
from training.services.configs import resolve_config
from training.services.placement import place
from training.services.workers import worker_heartbeat, worker_register, worker_stopped
from training.task_routes import route_training_job

from .conftest import TINY_CONFIG
from .test_services import make_job

pytestmark = pytest.mark.django_db

GIB = 2**30
SMALL = {"total_bytes": 1 * GIB, "base_weights_bytes": GIB // 2}  # what a tiny model's estimate is near


def advertise(name: str, text_capacity: Capacity) -> TrainingWorker:
    from training.processes.routing import queues_for

    return worker_register(name=name, hostname="host", pid=1, capacity=text_capacity, queues=queues_for(text_capacity))


def config(**overrides):
    return resolve_config(preset=None, config={**TINY_CONFIG, **overrides})


def test_without_any_advert_the_job_waits_in_the_default_class_checked_against_the_setting(settings):
    settings.TRAINING_DEFAULT_DEVICE = "cpu"
    settings.TRAINING_DEVICE_MEMORY_MB = 4096
    placement = place(config=config(), estimate=SMALL)
    assert (placement.queue, placement.refusal, placement.advertised) == ("training.cpu", None, False)
    settings.TRAINING_DEVICE_MEMORY_MB = 512
    assert "but the training device has 0.5 GiB" in place(config=config(), estimate=SMALL).refusal


def test_auto_takes_cuda_when_a_cuda_worker_fits_else_the_cpu():
    advertise("cpu@a", Capacity("cpu", 1, 64 * 1024))
    assert place(config=config(), estimate=SMALL).queue == "training.cpu"
    advertise("gpu@b", Capacity("cuda", 2, 24 * 1024))
    placement = place(config=config(), estimate=SMALL)
    assert (placement.needs.device_type, placement.queue) == ("cuda", "training.cuda")
    assert [c.row.worker.name for c in placement.takers] == ["gpu@b"]
    # Two processes: only the two-GPU worker's x2 queue; too big for its devices: the CPU host takes it.
    assert place(config=config(num_processes=2), estimate=SMALL).queue == "training.cuda.x2"
    big = {"total_bytes": 30 * GIB, "base_weights_bytes": 20 * GIB}
    assert place(config=config(), estimate=big).queue == "training.cpu"


def test_a_job_no_worker_could_ever_take_is_refused_with_each_reason():
    advertise("cpu@a", Capacity("cpu", 1, 2048, methods=("lora", "dora")))
    advertise("gpu@b", Capacity("cuda", 1, 8192))
    placement = place(config=config(device="cuda", num_processes=2), estimate=SMALL)
    assert placement.queue == ""
    assert "No training worker could ever take this job (2 × CUDA" in placement.refusal
    assert "cpu@a: it has CPU devices, the job needs CUDA" in placement.refusal
    assert "gpu@b: it runs at most 1 CUDA devices, the job needs 2" in placement.refusal
    huge = place(config=config(), estimate={"total_bytes": 40 * GIB, "base_weights_bytes": 30 * GIB})
    assert "gpu@b: each of its devices has 8.0 GiB, the job needs about 40.0 GiB" in huge.refusal
    assert "qlora" in place(config=config(method="qlora", device="cpu"), estimate=SMALL).refusal


def test_a_live_worker_is_preferred_and_the_waiting_jobs_are_counted(project, owner, fake_base_model):
    gpu = advertise("gpu@b", Capacity("cuda", 1, 8192))
    advertise("cpu@a", Capacity("cpu", 1, 64 * 1024))
    TrainingWorker.objects.filter(pk=gpu.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    make_job(project, owner, fake_base_model, queue="training.cpu")
    make_job(project, owner, fake_base_model, queue="training.cpu", status=JobStatus.RUNNING)
    placement = place(config=config(), estimate=SMALL)
    assert (placement.queue, placement.waiting) == ("training.cpu", 1)  # the silent GPU worker is not chosen
    assert [(c.row.worker.name, c.row.live) for c in placement.candidates] == [("cpu@a", True), ("gpu@b", False)]


def test_adverts_are_refreshed_and_marked_stopped():
    advertise("w@h", Capacity("cpu", 1, 1024))
    worker_stopped(name="w@h")
    assert TrainingWorker.objects.get(name="w@h").stopped_at is not None
    assert worker_heartbeat(name="w@h")
    assert TrainingWorker.objects.get(name="w@h").stopped_at is None
    advertise("w@h", Capacity("cuda", 2, 2048))  # restarted with other devices: one row, new advert
    worker = TrainingWorker.objects.get()
    assert (worker.device_type, worker.devices, worker.queues) == ("cuda", 2, ["training.cuda", "training.cuda.x2"])


def test_the_message_goes_to_the_queue_the_row_names(project, owner, fake_base_model):
    job = make_job(project, owner, fake_base_model, queue="training.cuda.x2")
    options = route_training_job("training.tasks.run_training_job", [job.pk], {}, {})
    assert options == {"queue": "training.cuda.x2"}
    assert route_training_job("training.tasks.run_training_job", [10**9], {}, {}) == {"queue": "training.cpu"}
    assert route_training_job("training.tasks.other", [job.pk], {}, {}) is None


def test_a_worker_never_claims_a_job_it_cannot_run(project, owner, fake_base_model):
    """A message in the wrong queue (sent by hand, or by an older release): the job stays queued."""
    job = make_job(project, owner, fake_base_model, device_type="cuda", queue="training.cuda", memory_mb=900)
    cpu_only = Capacity("cpu", 1, 64 * 1024)
    assert execution.job_execute(job.pk, worker="cpu@a", capacity=cpu_only) == "does-not-fit"
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == (JobStatus.QUEUED, 0, "")
    small_gpu = Capacity("cuda", 1, 512)
    assert (
        execution.misrouted(job.pk, small_gpu)
        == "each of its devices has 0.5 GiB, the job needs about 0.9 GiB per device"
    )
    assert execution.misrouted(job.pk, Capacity("cuda", 1, 8192)) is None
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
