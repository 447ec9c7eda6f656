"""Caps on generation work in flight, on the web threads that wait for answers, and on queued training.

Who may use how much (settings, 0 meaning no cap):

- one user's generation requests *waiting* for an inference worker (ANNOTUNE_GENERATE_QUEUED_PER_USER)
  and *being answered* at once (ANNOTUNE_GENERATE_RUNNING_PER_USER: a worker that takes a request of a
  user already at the cap leaves it queued and sends it again, so other users' requests go first; with
  the vLLM backend a request runs as soon as it is made, so the cap is checked then);
- all users' requests waiting in one project's queue (ANNOTUNE_GENERATE_QUEUED_PER_PROJECT).
  A blind evaluation queued or generating is one task on the inference queue: it counts as one waiting
  request of its creator and of its project;
- the web threads of one process that wait for answers at once (ANNOTUNE_GENERATE_WAITERS_PER_PROCESS:
  /v1/ whole answers and streams, the generate API's wait), below gunicorn's thread count so that
  sign-in and saves always find a free thread;
- training jobs waiting in the queue per person and per project (ANNOTUNE_TRAINING_QUEUED_PER_OWNER /
  _PER_PROJECT, sweep members included) and unfinished rank sweeps (ANNOTUNE_SWEEPS_ACTIVE_PER_OWNER /
  _PER_PROJECT).

Beyond a cap the request is refused with `TooManyRequestsError` (429 and Retry-After), saying how many
are in flight and what to do, and nothing is queued. A user's caps count the requests of all their
API tokens (and pages) together, so no one token goes beyond them. The counts run inside the
transaction that creates the row, with the user's row locked (PostgreSQL; SQLite's IMMEDIATE
transactions serialise writers anyway), so parallel requests cannot slip past a cap together.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from annotation.models import Project
from annotune.errors import TooManyRequestsError
from evaluation.models import Evaluation, EvaluationStatus
from serving.models import GenerationRequest, GenerationStatus

from ..models import JobStatus, Sweep, TrainingJob

# Retry-After (seconds): a queue of answers moves in seconds, a waiting thread frees up sooner, a training
# queue in minutes.
RETRY_QUEUE_SECONDS = 10
RETRY_WAITERS_SECONDS = 5
RETRY_TRAINING_SECONDS = 60

EVALUATION_WAITING = (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING)


def cap(value: Any) -> int:
    """A cap setting: a positive whole number, or 0 for none."""
    return max(0, int(value or 0))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def lock_user(user_id: int | None) -> None:
    """Hold the user's row until the transaction ends: one admission per user at a time (PostgreSQL)."""
    if user_id is not None:
        list(get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


# -- generations ------------------------------------------------------------------------------------
def user_waiting(user_id: int) -> int:
    """The user's requests waiting for an inference worker, evaluations included."""
    requests = GenerationRequest.objects.filter(created_by_id=user_id, status=GenerationStatus.QUEUED).count()
    return requests + Evaluation.objects.filter(created_by_id=user_id, status__in=EVALUATION_WAITING).count()


def user_running(user_id: int) -> int:
    return GenerationRequest.objects.filter(created_by_id=user_id, status=GenerationStatus.RUNNING).count()


def project_waiting(project: Project) -> int:
    requests = GenerationRequest.objects.filter(project=project, status=GenerationStatus.QUEUED).count()
    return requests + Evaluation.objects.filter(project=project, status__in=EVALUATION_WAITING).count()


def generation_admit(*, user, project: Project, runs_now: bool = False, what: str = "request") -> None:
    """Refuse (TooManyRequestsError) one more generation request (or evaluation: `what`) of `user` in
    `project` beyond the caps; call it inside the transaction that creates the row.

    `runs_now`: answered as soon as it is made (the vLLM backend), so the user's running cap applies now
    instead of the waiting cap."""
    lock_user(user.pk)
    if runs_now:
        limit, running = cap(settings.ANNOTUNE_GENERATE_RUNNING_PER_USER), user_running(user.pk)
        if limit and running >= limit:
            raise TooManyRequestsError(
                f"You already have {_plural(running, 'answer')} being generated (at most {limit} at once per "
                "person). Wait until one of them finishes, then send this again.",
                {"queue": ["user_running_full"]},
                retry_after=RETRY_QUEUE_SECONDS,
            )
    else:
        limit, waiting = cap(settings.ANNOTUNE_GENERATE_QUEUED_PER_USER), user_waiting(user.pk)
        if limit and waiting >= limit:
            raise TooManyRequestsError(
                f"You already have {_plural(waiting, 'request')} waiting for the inference worker (at most "
                f"{limit} per person; an evaluation counts as one). Wait until one of them is answered, then "
                f"send this {what} again.",
                {"queue": ["user_queue_full"]},
                retry_after=RETRY_QUEUE_SECONDS,
            )
    limit = cap(settings.ANNOTUNE_GENERATE_QUEUED_PER_PROJECT)
    if limit and (waiting := project_waiting(project)) >= limit:
        raise TooManyRequestsError(
            f"This project's queue is full: {_plural(waiting, 'request')} wait for the inference worker (at "
            f"most {limit} per project). Try again in a minute.",
            {"queue": ["project_queue_full"]},
            retry_after=RETRY_QUEUE_SECONDS,
        )


def running_cap_reached(user_id: int | None) -> bool:
    """Whether the user already has ANNOTUNE_GENERATE_RUNNING_PER_USER requests being answered (inside
    the worker's claim transaction, the user's row locked)."""
    limit = cap(settings.ANNOTUNE_GENERATE_RUNNING_PER_USER)
    if not limit or user_id is None:
        return False
    lock_user(user_id)
    return user_running(user_id) >= limit


# -- web threads that wait ----------------------------------------------------------------------------
class WaitSlot:
    """One web thread's permission to wait for answers; `release()` may be called any number of times."""

    def __init__(self, slots: WaitSlots) -> None:
        self._slots = slots
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.give_back()


class WaitSlots:
    """How many threads of this process wait for answers (ANNOTUNE_GENERATE_WAITERS_PER_PROCESS, read at
    each `hold`, so the operator's setting is the bound)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.held = 0

    def hold(self) -> WaitSlot:
        limit = cap(settings.ANNOTUNE_GENERATE_WAITERS_PER_PROCESS)
        with self._lock:
            if limit and self.held >= limit:
                raise TooManyRequestsError(
                    "The server is busy waiting for other answers right now. Try again in a few seconds.",
                    {"queue": ["waiters_full"]},
                    retry_after=RETRY_WAITERS_SECONDS,
                )
            self.held += 1
        return WaitSlot(self)

    def try_hold(self) -> WaitSlot | None:
        """A slot, or None when this process has none to spare (the caller answers without waiting)."""
        try:
            return self.hold()
        except TooManyRequestsError:
            return None

    def give_back(self) -> None:
        with self._lock:
            self.held = max(0, self.held - 1)


WAITERS = WaitSlots()


class HeldStream:
    """A streamed response's body that holds a wait slot until the server closes it (WSGI servers always
    call `close()`, also when the client went away or the body was never read)."""

    def __init__(self, chunks, slot: WaitSlot) -> None:
        self._chunks = iter(chunks)
        self._slot = slot

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            self._slot.release()


# -- a client that went away -----------------------------------------------------------------------
def socket_closed(sock: socket.socket) -> bool:
    """Whether the peer closed the connection: readable with nothing to read (end of stream). Data the
    client sent after its request (a pipelined request) counts as still there; TLS sockets cannot be
    peeked, so they count as still there too."""
    if isinstance(sock, ssl.SSLSocket):
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):  # reset by the peer, or already closed
        return True


def client_gone(meta: Mapping[str, Any]) -> bool:
    """Whether the client of the request whose WSGI environ is `meta` went away (gunicorn hands the
    connection's socket over as `gunicorn.socket`; elsewhere this cannot be told, and is False)."""
    sock = meta.get("gunicorn.socket")
    return isinstance(sock, socket.socket) and socket_closed(sock)


# -- training ---------------------------------------------------------------------------------------
def training_admit(*, user, project: Project, jobs: int = 1) -> None:
    """Refuse `jobs` more queued training jobs of `user` in `project` beyond the caps (inside the
    transaction that creates them)."""
    lock_user(user.pk)
    queued = TrainingJob.objects.filter(status=JobStatus.QUEUED)
    mine, limit = queued.filter(created_by_id=user.pk).count(), cap(settings.ANNOTUNE_TRAINING_QUEUED_PER_OWNER)
    adding = "this job" if jobs == 1 else f"these {jobs} jobs"
    if limit and mine + jobs > limit:
        raise TooManyRequestsError(
            f"You already have {_plural(mine, 'training job')} waiting in the queue (at most {limit} per person), "
            f"so {adding} cannot be added. Wait until some of them start, or cancel the ones you no longer need.",
            {"queue": ["owner_training_queue_full"]},
            retry_after=RETRY_TRAINING_SECONDS,
        )
    theirs, limit = queued.filter(project=project).count(), cap(settings.ANNOTUNE_TRAINING_QUEUED_PER_PROJECT)
    if limit and theirs + jobs > limit:
        raise TooManyRequestsError(
            f"This project already has {_plural(theirs, 'training job')} waiting in the queue (at most {limit}), "
            f"so {adding} cannot be added. Wait until some of them start, or cancel the ones no longer needed.",
            {"queue": ["project_training_queue_full"]},
            retry_after=RETRY_TRAINING_SECONDS,
        )


def unfinished_sweeps() -> Any:
    """Sweeps with a member still queued or running (and not cancelled as a whole)."""
    active = TrainingJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING], sweep_id__isnull=False)
    return Sweep.objects.filter(Q(pk__in=active.values("sweep_id")), cancel_requested=False)


def sweep_admit(*, user, project: Project, jobs: int) -> None:
    """Refuse one more sweep (of `jobs` members) of `user` in `project` beyond the sweep and job caps."""
    lock_user(user.pk)
    sweeps = unfinished_sweeps()
    mine, limit = sweeps.filter(created_by_id=user.pk).count(), cap(settings.ANNOTUNE_SWEEPS_ACTIVE_PER_OWNER)
    if limit and mine >= limit:
        raise TooManyRequestsError(
            f"You already have {_plural(mine, 'rank sweep')} in progress (at most {limit} per person). Wait until "
            "one finishes, or cancel one you no longer need.",
            {"queue": ["owner_sweeps_full"]},
            retry_after=RETRY_TRAINING_SECONDS,
        )
    theirs, limit = sweeps.filter(project=project).count(), cap(settings.ANNOTUNE_SWEEPS_ACTIVE_PER_PROJECT)
    if limit and theirs >= limit:
        raise TooManyRequestsError(
            f"This project already has {_plural(theirs, 'rank sweep')} in progress (at most {limit}). Wait until "
            "one finishes, or cancel one no longer needed.",
            {"queue": ["project_sweeps_full"]},
            retry_after=RETRY_TRAINING_SECONDS,
        )
    training_admit(user=user, project=project, jobs=jobs)
