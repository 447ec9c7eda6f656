"""Background work rows: one claim, one fenced write and one reaper for every app's job-like rows.

A work row is a model that inherits `WorkRow` (`attempts`, `heartbeat_at`, `started_at`, `finished_at`,
`error`) and has a `status` of its own choices with "queued" and "running", then a final status; the row
is the source of truth, the Celery message only says "look at row N". The life of one:

- `claim(model, pk, ...)`: a worker moves it from queued to running (one worker wins: the update is
  conditional on "queued"), counts the attempt and stamps the start and a first heartbeat by the
  database's clock. It returns the row *fenced* to this attempt (`fenced`): a write through that
  queryset lands only while the row is still running this attempt, so a worker the reaper took for
  dead never overwrites what a later attempt, or the reaper, wrote.
- while it works, the worker beats on the fenced row (annotune.heartbeat.beating).
- `reap_stale(...)`, from the periodic reaper (settings.ANNOTUNE_REAPERS): a running row whose heartbeat
  stopped is queued again and its task sent after commit, or failed with the reason once it used
  ANNOTUNE_JOB_MAX_ATTEMPTS (or the row's own `max_attempts`, where it records one); a queued row whose
  message the broker lost is sent again (the claim makes a duplicate harmless).

Users: imports and version builds (curated_data), data-health runs and "Draft all" batches (annotation),
training jobs (training), adapter operations and generation requests (serving), blind evaluations
(evaluation). Each app's reaper is named in settings.ANNOTUNE_REAPERS (training's, serving's and
evaluation's: `<app>/services/reaper.py`) and calls `reap_stale` for its rows, except where a row is never
queued again: a generation request (its caller stopped waiting) and a blind evaluation (its owner creates
it again) whose worker died are failed, their reapers find them with `silent`. A generation request's claim
also holds its user's running cap (serving/services/generation.py: `claim` inside its transaction).
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
# The final statuses a work row may end in (cancelled: training jobs only).
DONE = ("succeeded", FAILED, "cancelled")


class WorkRow(models.Model):
    """The columns the kernel reads and writes; each model adds its `status` (its own choices, with
    "queued" and "running") and what its work needs. Status in words: `is_active` (queued or running: a
    page polls it) and `is_done` (ended)."""

    # Claims so far; doubles as the fencing token (a worker writes only while its attempt is current).
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    status: Any  # declared by each model, with its own choices

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    @property
    def is_done(self) -> bool:
        return self.status in DONE


def fenced(model: type[models.Model], pk: int, attempts: int) -> QuerySet:
    """The row while it is running attempt `attempts`: updates through it land only then."""
    return model._default_manager.filter(pk=pk, status=RUNNING, attempts=attempts)


def claim(model: type[models.Model], pk: int, *, ready: Q | None = None, **fields: Any) -> QuerySet | None:
    """Take a queued row for this worker (None when it is not queued: another worker has it, or it ended).

    `ready` narrows what may be claimed (a training job still being estimated is queued, not ready).
    `fields` are set with the claim (a phase, counters reset for this attempt, the worker's name); they
    may replace the start stamp too (a training job keeps its first). Returns the row fenced to this
    attempt."""
    values: dict[str, Any] = {
        "status": RUNNING,
        "started_at": timezone.now(),
        "heartbeat_at": beat_time(),  # the database's clock, as the reaper's (annotune/heartbeat.py)
        "attempts": F("attempts") + 1,
        **fields,
    }
    claimed = model._default_manager.filter(ready or Q(), pk=pk, status=QUEUED).update(**values)
    if claimed != 1:
        return None
    attempts = model._default_manager.filter(pk=pk).values_list("attempts", flat=True).get()
    return fenced(model, pk, attempts)


def silent(model: type[models.Model], stale_after: float) -> QuerySet:
    """Running rows whose heartbeat (or, before the first one, their start) is older than `stale_after`
    seconds by the database's clock: their worker died or lost the database."""
    cutoff = silent_since(stale_after)
    quiet = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    return model._default_manager.filter(quiet, status=RUNNING)


def reap_stale(
    model: type[models.Model],
    *,
    task,
    stale_after: float,
    what: str,
    requeued: Callable[[str], dict[str, Any]],
    failed: Callable[[str, int], dict[str, Any]],
    send: Callable[[int], None] | None = None,
    queue: str | None = "default",
    ready: Q | None = None,
) -> dict[str, list[int]]:
    """Rows of `model` whose worker died, and queued rows whose message was lost; returns the ids
    re-queued, failed and sent again.

    A running row is stale when `silent`. `requeued(reason)` and `failed(reason, limit)` give the fields
    written with each outcome (a note, a phase, progress back to zero); `what` names the row in the log
    ("import", "validation run"). A row that records its own `max_attempts` is failed at that limit.
    `send(pk)` sends a re-queued row's task after commit (default: `task`); `queue` is where lost
    messages are looked for, None for rows that name their own (a `queue` column: one per device class);
    `ready` narrows the queued rows whose lost message is `task`'s (as in `claim`).
    """
    per_row = any(f.name == "max_attempts" for f in model._meta.get_fields())
    stale = silent(model, stale_after)
    done: dict[str, list[int]] = {"requeued": [], "failed": []}
    rows = stale.values_list("pk", "attempts", "max_attempts") if per_row else stale.values_list("pk", "attempts")
    for pk, attempts, *own in rows:
        limit = own[0] if own else settings.ANNOTUNE_JOB_MAX_ATTEMPTS
        # Conditional on the same attempt, still silent: a worker that just beat keeps its row.
        same = stale.filter(pk=pk, attempts=attempts)
        reason = f"The worker stopped reporting for {stale_after:g} s on attempt {attempts}"
        if attempts >= limit:
            if same.update(status=FAILED, finished_at=timezone.now(), **failed(reason, limit)):
                done["failed"].append(pk)
                log.warning("%s %s failed: its worker stopped reporting on its last attempt", what, pk)
            continue
        with transaction.atomic():
            if same.update(status=QUEUED, **requeued(reason)):
                if send is None:
                    dispatch.send_on_commit(task, pk)
                else:
                    send(pk)
                done["requeued"].append(pk)
                log.warning("%s %s re-queued: its worker stopped reporting", what, pk)
    queued = model._default_manager.filter(ready or Q(), status=QUEUED)
    after = settings.ANNOTUNE_REDISPATCH_AFTER_SECONDS
    if queue is not None:
        resent = dispatch.resend_lost(queued, task, queue=queue, older_than=after)
    else:
        resent = []
        for name in queued.order_by().values_list("queue", flat=True).distinct():
            resent += dispatch.resend_lost(queued.filter(queue=name), task, queue=name, older_than=after)
    return {**done, "resent": resent}
