"""Background work rows: one claim, one fenced write and one reaper for every app's job-like rows.

A work row is a model with `status` ("queued", "running", then a final status of its own), `attempts`,
`heartbeat_at`, `started_at`, `finished_at` and `error`; the row is the source of truth, the Celery
message only says "look at row N". The life of one:

- `claim(model, pk, ...)`: a worker moves it from queued to running (one worker wins: the update is
  conditional on "queued"), counts the attempt and stamps the start and a first heartbeat by the
  database's clock. It returns the row *fenced* to this attempt (`fenced`): a write through that
  queryset lands only while the row is still running this attempt, so a worker the reaper took for
  dead never overwrites what a later attempt, or the reaper, wrote.
- while it works, the worker beats on the fenced row (annotune.heartbeat.beating).
- `reap_stale(...)`, from the periodic reaper (settings.ANNOTUNE_REAPERS): a running row whose heartbeat
  stopped is queued again and its task sent after commit, or failed with the reason once it used
  ANNOTUNE_JOB_MAX_ATTEMPTS; a queued row whose message the broker lost is sent again (the claim makes a
  duplicate harmless).

Imports and data-health runs use it; training jobs, adapter operations and
generation requests still have their own claims (their rows carry more: placement, peers, per-user caps).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from . import dispatch
from .heartbeat import beat_time, silent_since

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
FAILED = "failed"


def fenced(model: type[models.Model], pk: int, attempts: int) -> QuerySet:
    """The row while it is running attempt `attempts`: updates through it land only then."""
    return model._default_manager.filter(pk=pk, status=RUNNING, attempts=attempts)


def claim(model: type[models.Model], pk: int, **fields: Any) -> QuerySet | None:
    """Take a queued row for this worker (None when it is not queued: another worker has it, or it ended).

    `fields` are set with the claim (a phase, counters reset for this attempt). Returns the row fenced
    to this attempt."""
    claimed = model._default_manager.filter(pk=pk, status=QUEUED).update(
        status=RUNNING,
        started_at=timezone.now(),
        heartbeat_at=beat_time(),  # the database's clock, as the reaper's (annotune/heartbeat.py)
        attempts=F("attempts") + 1,
        **fields,
    )
    if claimed != 1:
        return None
    attempts = model._default_manager.filter(pk=pk).values_list("attempts", flat=True).get()
    return fenced(model, pk, attempts)


def reap_stale(
    model: type[models.Model],
    *,
    task,
    stale_after: float,
    what: str,
    requeued: Callable[[str], dict[str, Any]],
    failed: Callable[[str, int], dict[str, Any]],
) -> dict[str, list[int]]:
    """Rows of `model` whose worker died, and queued rows whose message was lost; returns the ids
    re-queued, failed and sent again.

    A running row is stale when its heartbeat (or, before the first one, its start) is older than
    `stale_after` seconds by the database's clock. `requeued(reason)` and `failed(reason, limit)` give the
    fields written with each outcome (a note, a phase, progress back to zero); `what` names the row in
    the log ("import", "validation run")."""
    limit = settings.ANNOTUNE_JOB_MAX_ATTEMPTS
    cutoff = silent_since(stale_after)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    stale = model._default_manager.filter(silent, status=RUNNING)
    done: dict[str, list[int]] = {"requeued": [], "failed": []}
    for pk, attempts in stale.values_list("pk", "attempts"):
        # Conditional on the same attempt, still silent: a worker that just beat keeps its row.
        same = stale.filter(pk=pk, attempts=attempts)
        reason = f"The worker stopped reporting for {stale_after:g} s on attempt {attempts}"
        if attempts >= limit:
            if same.update(status=FAILED, finished_at=timezone.now(), **failed(reason, limit)):
                done["failed"].append(pk)
            continue
        with transaction.atomic():
            if same.update(status=QUEUED, **requeued(reason)):
                dispatch.send_on_commit(task, pk)
                done["requeued"].append(pk)
                log.warning("%s %s re-queued: its worker stopped reporting", what, pk)
    queued = model._default_manager.filter(status=QUEUED)
    resent = dispatch.resend_lost(queued, task, queue="default", older_than=settings.ANNOTUNE_REDISPATCH_AFTER_SECONDS)
    return {**done, "resent": resent}
