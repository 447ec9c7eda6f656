"""Background work of the curated_data app: tasks take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from .services import imports, versions


# The wire name predates the package rename; kept so messages queued before it still run.
@shared_task(name="datasets.tasks.run_import", acks_late=True, time_limit=3600, soft_time_limit=3500)
def run_import(job_id: int) -> None:
    """Validate and write one import job. Safe to deliver twice: the service claims the job first."""
    imports.import_run(job_id=job_id)


@shared_task(
    name="curated_data.tasks.build_version", acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60
)
def build_version(build_id: int) -> None:
    """Build one large dataset version. Safe to deliver twice: the service claims the build first."""
    versions.version_build_run(build_id)
