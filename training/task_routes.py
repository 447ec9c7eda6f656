"""Celery router (settings.CELERY_TASK_ROUTES): a training job's message goes to its row's queue.

Every sender (launch, the reaper's re-queue and its re-send of lost messages) sends
`run_training_job(job_id)` without naming a queue; the row names the queue of the job's device class
(training.processes.routing), chosen at launch.
"""

from __future__ import annotations

from typing import Any

from .processes.routing import queue_name

TASK = "training.tasks.run_training_job"


def route_training_job(name: str, args: Any, kwargs: Any, options: dict[str, Any], task=None, **kw) -> Any:
    if name != TASK:
        return None
    from .models import TrainingJob

    job_id = (args or [None])[0] if args else (kwargs or {}).get("job_id")
    queue = TrainingJob.objects.filter(pk=job_id).values_list("queue", flat=True).first() if job_id else None
    return {"queue": queue or queue_name("cpu")}
