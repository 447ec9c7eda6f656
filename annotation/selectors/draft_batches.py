"""Reads for "Draft all": one batch for its page, and the project's running one for the examples list."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from ..models import DraftBatch, DraftBatchStatus, Project


def batch_get(project: Project, batch_id: Any) -> DraftBatch:
    """The project's batch; Http404 for any other id (another project's is as unknown as none)."""
    try:
        pk = int(batch_id)
    except (TypeError, ValueError):
        raise Http404("No such draft batch.") from None
    found = (
        DraftBatch.objects.select_related("created_by").filter(project=project, pk=pk).first()
        if 0 < pk < 2**63
        else None
    )
    if found is None:
        raise Http404("No such draft batch in this project.")
    return found


def open_batch(project: Project) -> DraftBatch | None:
    """The batch drafting the project's examples now (queued or running), if any."""
    return (
        DraftBatch.objects.filter(project=project, status__in=[DraftBatchStatus.QUEUED, DraftBatchStatus.RUNNING])
        .only("pk", "status", "project_id")
        .first()
    )
