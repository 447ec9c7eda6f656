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


@shared_task(name="annotation.tasks.run_validation", acks_late=True)
def run_validation(run_id: int) -> None:
    """Dataset-level validation run (queue `default`); the claim makes a redelivery a no-op."""
    from .services.validation_runs import run_execute

    run_execute(run_id)


# "Draft all": on the `inference` queue (settings.CELERY_TASK_ROUTES), where the models are cached.
@shared_task(name="annotation.tasks.draft_batch", acks_late=True)
def draft_batch(batch_id: int) -> str:
    """Draft every waiting example of one batch; the claim makes a redelivery a no-op."""
    from serving.services.backends import current_backend
    from serving.tasks import model_cache

    from .services.draft_batches import batch_run

    return batch_run(batch_id, current_backend(model_cache))
