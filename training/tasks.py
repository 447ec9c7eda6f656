"""Background work of the training app. Thin: tasks take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import worker_advert
from .services import base_models, estimates, estimating, execution, peers


@shared_task(
    name="training.tasks.run_training_job",
    bind=True,
    acks_late=True,
    time_limit=settings.TRAINING_TIME_LIMIT_SECONDS,
    soft_time_limit=settings.TRAINING_TIME_LIMIT_SECONDS - 60,
)
def run_training_job(self, job_id: int) -> str:
    """Claim the queued job and run it (engine in a child process); a job not queued is left alone."""
    return execution.job_execute(job_id, worker=self.request.hostname or "", capacity=worker_advert.ADVERTISED)


@shared_task(name="training.tasks.join_training_job", time_limit=settings.TRAINING_TIME_LIMIT_SECONDS)
def join_training_job(job_id: int, attempt: int) -> str:
    """On a peer node of a multi-machine group: run this node's ranks of the job's attempt (see peers)."""
    return peers.job_join(job_id, attempt)


@shared_task(name="training.tasks.build_tiny_base_model", acks_late=True, time_limit=3600)
def build_tiny_base_model(base_model_id: int) -> str:
    """Build the queued tiny base model (default queue); a row that is not queued is left alone."""
    return base_models.tiny_build_run(base_model_id=base_model_id)


@shared_task(name="training.tasks.check_base_model", acks_late=True, time_limit=600)
def check_base_model(base_model_id: int, user_id: int | None = None) -> str:
    """Check a base model added on the page (default queue); a row that is not queued is left alone."""
    return base_models.base_model_check_run(base_model_id=base_model_id, user_id=user_id)


@shared_task(name="training.tasks.estimate_training_job", acks_late=True, time_limit=600)
def estimate_training_job(job_id: int) -> str:
    """Estimate, place and send a job launched before its estimate was known (default queue)."""
    return estimating.job_estimate_run(job_id)


@shared_task(name="training.tasks.fill_estimates", acks_late=True, time_limit=600)
def fill_estimates(base_model_id: int, configs: list[dict]) -> int:
    """Compute the estimates a page or API client asked for and keep them on the base model (default queue)."""
    return estimates.estimates_fill(base_model_id=base_model_id, configs=configs)
