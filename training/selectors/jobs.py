"""Reads of training jobs: lists, one job, its metric history and adapter (pages and API alike)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from annotation import permissions
from annotation.models import Project
from serving.models import Adapter

from ..models import TrainingJob, TrainingMetric

JOB_LIST_DEFER = ("config", "estimate", "result", "log_tail", "error")


def job_list(project: Project) -> QuerySet[TrainingJob]:
    """Jobs of a project, newest first, without their large JSON / text columns."""
    return (
        TrainingJob.objects.filter(project=project)
        .select_related("base_model", "created_by", "dataset_version")
        .defer(*JOB_LIST_DEFER)
        .order_by("-id")
    )


def job_for(user, project_id: Any, job_id: Any) -> TrainingJob:
    """The job if the user may see its project; Http404 otherwise (outsiders learn nothing)."""
    project = permissions.project_for(user, project_id)
    try:
        job = TrainingJob.objects.select_related("base_model", "created_by", "dataset_version", "parent_adapter").get(
            project=project, pk=job_id
        )
    except (TrainingJob.DoesNotExist, ValueError, TypeError):
        raise Http404("No such training job.") from None
    job.project = project
    return job


def job_metrics(job: TrainingJob, *, after_step: int | None = None) -> QuerySet[TrainingMetric]:
    qs = TrainingMetric.objects.filter(job=job)
    if after_step is not None:
        qs = qs.filter(step__gt=after_step)
    return qs.order_by("step")


def job_adapter(job: TrainingJob) -> Adapter:
    adapter = Adapter.objects.filter(job=job).select_related("base_model").first()
    if adapter is None:
        raise Http404("This job has no adapter (yet).")
    return adapter
