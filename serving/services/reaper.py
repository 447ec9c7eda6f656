"""The serving app's reaper (settings.ANNOTUNE_REAPERS, run by the periodic `annotune.reap`).

Adapter operations (merge, combine, GGUF export) and generation requests are work rows (annotune/work.py).
An operation whose heartbeat stopped is queued again and fails with the reason after its last attempt
(`reap_operations`); queued ones left without a message (a broker restart drops what it held in memory) are
sent again, and their task claims the row first, so a duplicate message is a no-op. A generation request is
never queued again: silent or lost, it fails (`reap_generations`), because its caller stopped waiting long
ago. A worker's own writes are fenced to its attempt, so a late one never lands over the reaper's.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Case, TextField, Value, When
from django.utils import timezone

from annotune import work
from annotune.dispatch import lost_messages
from annotune.heartbeat import silent_since

from ..models import AdapterOperation, GenerationRequest, GenerationStatus, OperationKind


def reap() -> dict[str, list[int]]:
    """Returns the ids acted on, by kind."""
    return {
        **{f"operations_{k}": v for k, v in reap_operations().items()},
        **{f"generations_{k}": v for k, v in reap_generations().items()},
    }


# What the user starts again, by operation kind.
_AGAIN = {
    OperationKind.MERGE: ("merge", "merge the adapter again"),
    OperationKind.COMBINE: ("combination", "combine the adapters again"),
    OperationKind.GGUF: ("GGUF export", "start the export again"),
}


def reap_operations() -> dict[str, list[int]]:
    """Periodic: running adapter operations whose heartbeat stopped (their worker died, or lost the
    database) are queued again; after the last attempt they fail with error_code `worker_lost` and what
    to do. Queued ones whose message was lost are sent again."""
    from ..tasks import run_adapter_operation

    return work.reap_stale(
        AdapterOperation,
        task=run_adapter_operation,
        stale_after=settings.ANNOTUNE_OPERATION_STALE_SECONDS,
        what="adapter operation",
        requeued=lambda reason: {"error": f"{reason}; queued again."},
        failed=_operation_lost,
    )


def _operation_lost(reason: str, limit: int) -> dict[str, Any]:
    """worker_lost, with what the user starts again for the row's kind of operation."""
    lost = f"worker_lost: {reason[0].lower()}{reason[1:]} of {limit}"
    messages = {
        kind: f"{lost} while running this {what} (it died or was restarted); nothing of the result was kept. "
        f"Start it again: {again}."
        for kind, (what, again) in _AGAIN.items()
    }
    error = Case(
        *(When(kind=kind, then=Value(message)) for kind, message in messages.items()),
        default=Value(f"{lost}; nothing of the result was kept. Start it again."),
        output_field=TextField(),
    )
    return {"error_code": "worker_lost", "error": error}


def reap_generations() -> dict[str, list[int]]:
    """Periodic: requests whose message the broker lost ("lost"), or whose worker died while answering
    ("stale"), fail with the reason. Never re-queued, unlike other work rows (no `work.reap_stale`): the
    caller stopped waiting (the API's wait is ANNOTUNE_GENERATE_TIMEOUT_SECONDS), so sending them again later
    would answer a question nobody waits for."""
    now = timezone.now()
    queued = GenerationRequest.objects.filter(status=GenerationStatus.QUEUED)
    lost = lost_messages(queued, queue="inference", older_than=settings.ANNOTUNE_GENERATE_TIMEOUT_SECONDS)
    GenerationRequest.objects.filter(pk__in=lost, status=GenerationStatus.QUEUED).update(
        status=GenerationStatus.FAILED,
        error_code="lost",
        error="No worker received this request: the task queue lost it (restarted?). Send it again.",
        finished_at=now,
    )
    # Silent (a worker beats while it answers: serving/services/generation.py), or started too long ago;
    # both by the database's clock, which the workers write `started_at` and their heartbeat with.
    too_long = GenerationRequest.objects.filter(
        status=GenerationStatus.RUNNING, started_at__lt=silent_since(settings.ANNOTUNE_GENERATE_STALE_SECONDS)
    )
    dead = work.silent(GenerationRequest, settings.ANNOTUNE_GENERATE_SILENT_SECONDS) | too_long
    stale = list(dead.values_list("pk", flat=True))
    # The conditions hold again in the write: a worker that beat meanwhile keeps its request (unless too long).
    dead.filter(pk__in=stale).update(
        status=GenerationStatus.FAILED,
        error_code="worker_lost",
        error="The worker stopped before it finished this answer. Send it again.",
        finished_at=now,
    )
    return {"lost": lost, "stale": stale}
