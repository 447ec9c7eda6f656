"""Background work of the training app. Thin: tasks take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .services import execution, jobs


@shared_task(
    name="training.tasks.run_training_job",
    acks_late=True,
    time_limit=settings.TRAINING_TIME_LIMIT_SECONDS,
    soft_time_limit=settings.TRAINING_TIME_LIMIT_SECONDS - 60,
)
def run_training_job(job_id: int) -> str:
    """Claim the queued job and run it (engine in a child process); a job not queued is left alone."""
    return execution.job_execute(job_id)


@shared_task(name="training.tasks.reap_stale_jobs")
def reap_stale_jobs() -> list[int]:
    """Periodic (Celery beat): re-queue running jobs whose heartbeat stopped."""
    return jobs.reap_stale_jobs()
