"""What the adapter operations (merge, combine, GGUF export) share: who may ask, sending one to a worker,
writing its outcome, and reading an adapter's configuration. `adapters` and `gguf_exports` both use it."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from annotation import permissions
from annotation.models import Project
from annotune import dispatch, work
from annotune.errors import ApplicationError
from training.services import folders

from ..models import Adapter, AdapterOperation, GenerationStatus


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
    from ..tasks import run_adapter_operation

    dispatch.send_on_commit(run_adapter_operation, operation.pk)


class OperationTaken(Exception):
    """The operation is no longer this attempt's (the reaper queued it again or failed it, its worker
    presumed dead): its outcome is not written, and the files of a result are deleted (the writers discard
    them on this exception)."""


def result_folder(operation: AdapterOperation, prefix: str) -> str:
    """Where this attempt writes its result: `prefix`, with the attempt after a first one (the files an
    attempt whose worker died left behind are deleted; a late writer of theirs never meets this attempt's)."""
    for earlier in range(1, operation.attempts):
        folders.delete_folder(prefix if earlier == 1 else f"{prefix}-attempt-{earlier}")
    return prefix if operation.attempts <= 1 else f"{prefix}-attempt-{operation.attempts}"


def operation_finish(operation: AdapterOperation, status: str, **fields: Any) -> None:
    """The outcome, written only while the operation is still this attempt's (`work.fenced`): a late finish
    (a worker the reaper took for dead) never overwrites what the reaper or a later attempt wrote, nor
    reports success with a result nobody sees."""
    done = work.fenced(AdapterOperation, operation.pk, operation.attempts).update(
        status=status, finished_at=timezone.now(), **fields
    )
    if not done and status == GenerationStatus.SUCCEEDED:
        raise OperationTaken(operation.pk)
