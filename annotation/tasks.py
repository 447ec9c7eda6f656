"""Background work of the annotation app. Tasks take ids, load rows and call a service."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from .models import WorkerPing


@shared_task(name="annotation.tasks.answer_ping")
def answer_ping(ping_id: int) -> None:
    """Prove the broker round trip: the web side wrote the ping, a worker answers it."""
    WorkerPing.objects.filter(pk=ping_id, answered_at__isnull=True).update(
        answered_at=timezone.now(), worker=socket.gethostname()
    )
