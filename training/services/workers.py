"""Training workers' adverts (written by the workers themselves, see training/worker_advert.py)."""

from __future__ import annotations

from django.utils import timezone

from annotune.heartbeat import beat_time

from ..models import TrainingWorker
from ..processes.routing import Capacity


def worker_register(*, name: str, hostname: str, pid: int, capacity: Capacity, queues: list[str]) -> TrainingWorker:
    """Create or refresh the worker's row with what it has now (a restarted worker may have other devices)."""
    now = timezone.now()
    worker, _created = TrainingWorker.objects.update_or_create(
        name=name,
        defaults={
            "hostname": hostname,
            "pid": pid,
            "device_type": capacity.device_type,
            "devices": capacity.devices,
            "memory_mb": capacity.memory_mb,
            "methods": list(capacity.methods),
            "device_names": list(capacity.device_names),
            "queues": list(queues),
            "started_at": now,
            "heartbeat_at": beat_time(),  # the database's clock, as the web's liveness test (selectors)
            "stopped_at": None,
        },
    )
    worker.refresh_from_db(fields=["heartbeat_at"])
    return worker


def worker_heartbeat(*, name: str) -> bool:
    return bool(TrainingWorker.objects.filter(name=name).update(heartbeat_at=beat_time(), stopped_at=None))


def worker_stopped(*, name: str) -> None:
    TrainingWorker.objects.filter(name=name).update(stopped_at=timezone.now())
