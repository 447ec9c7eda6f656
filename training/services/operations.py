"""What the adapter operations (merge, combine, GGUF export) share: who may ask, sending one to a worker,
writing its outcome, and reading an adapter's configuration. `adapters` and `gguf_exports` both use it."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from annotation import permissions
from annotation.models import Project
from annotune import dispatch
from annotune.errors import ApplicationError

from ..models import Adapter, AdapterOperation, GenerationStatus
from . import folders


def require_owner(user, project: Project, action: str) -> None:
    permissions.require(permissions.can_train(user, project), f"Only project owners can {action}.")


def adapter_config(adapter: Adapter) -> dict[str, Any]:
    """The adapter's adapter_config.json from storage; ApplicationError when it is missing."""
    text = folders.read_text(adapter.storage_path, "adapter_config.json") if adapter.storage_path else None
    if text is None:
        raise ApplicationError(f"The files of adapter “{adapter.name}” are missing from storage (adapter_config.json).")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApplicationError(f"adapter_config.json of “{adapter.name}” is not valid JSON.") from exc


def operation_enqueue(operation: AdapterOperation) -> None:
    from ..inference_tasks import run_adapter_operation

    dispatch.send_on_commit(run_adapter_operation, operation.pk)


class OperationTaken(Exception):
    """The operation is no longer running (the reaper failed it, its worker presumed dead): its outcome is
    not written, and the files of a result are deleted (the writers discard them on this exception)."""


def operation_finish(operation: AdapterOperation, status: str, **fields: Any) -> None:
    """The outcome, written only while the operation is still running: a late finish (a worker the reaper
    took for dead) never overwrites the reaper's failure, nor reports success with a result nobody sees."""
    done = AdapterOperation.objects.filter(pk=operation.pk, status=GenerationStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )
    if not done and status == GenerationStatus.SUCCEEDED:
        raise OperationTaken(operation.pk)
