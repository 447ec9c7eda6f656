"""Background work of the training app. Thin: tasks take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .services import base_models, execution, jobs


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


@shared_task(name="training.tasks.build_tiny_base_model", acks_late=True, time_limit=3600)
def build_tiny_base_model(base_model_id: int) -> str:
    """Build the queued tiny base model (default queue); a row that is not queued is left alone."""
    return base_models.tiny_build_run(base_model_id=base_model_id)
