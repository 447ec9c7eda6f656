"""Reads for watching a generation request in the playground while the inference worker answers it.

`generation_watch` is what the playground's short poll answers: the request's state (queued with
what is ahead of it, generating, done or failed), the seconds elapsed by the database's clock (the
one the worker writes its times with) and one column per target with its answer so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.db.models.functions import Now
from django.http import Http404

from annotation.models import Project
from evaluation.models import Evaluation, EvaluationStatus
from serving.inference.outputs import AnswerOutput, is_partial, tokens_per_second
from training.models import JobStatus, TrainingJob

from ..models import GenerationRequest, GenerationStatus

# Why a request failed, as the worker or the reaper recorded it (error_code): these messages are plain
# words written by Annotune itself, shown to everyone as they are.
PLAIN_CODES = {
    "adapter_deleted",
    "adapter_not_servable",
    "broker_unavailable",
    "lost",
    "worker_lost",
    "cancelled",
    "disconnected",
    "timeout",
}
# The rest may carry server paths, internal URLs (the vLLM server's) or exception text: non-staff users
# see one of these instead (staff see the recorded detail).
PUBLIC_MESSAGES = {
    "missing_files": (
        "The inference worker could not read the files of this adapter or base model. Ask your administrator "
        "to check the worker's storage."
    ),
    "base_model_mismatch": "This adapter does not fit the base model it was to be served on.",
    "backend_unavailable": (
        "The inference server cannot be reached right now. Try again in a minute; if it keeps failing, tell "
        "your administrator."
    ),
    "model_not_served": "The inference server does not serve this model at the moment. Tell your administrator.",
    "backend_refused": "The inference server refused this request. Tell your administrator if it keeps happening.",
    "internal": (
        "The inference worker failed while answering. Try again; if it keeps failing, tell your administrator."
    ),
}
UNEXPLAINED = "This request could not be answered. Try again; if it keeps failing, tell your administrator."


def generation_error_message(code: str, message: str, *, staff: bool) -> str:
    """What a user is told about a failed request: staff get the recorded detail, everyone else plain
    words that name no server path, internal URL or exception."""
    if staff or code in PLAIN_CODES:
        return message
    return PUBLIC_MESSAGES.get(code, UNEXPLAINED)


# A running request whose worker has not written for this long is shown as possibly lost (it beats
# every ANNOTUNE_JOB_HEARTBEAT_SECONDS and writes its text several times a second while it generates).
QUIET_SECONDS = 30.0
# A queued request nobody took for this long, with nothing ahead of it, suggests no worker is running.
UNTAKEN_SECONDS = 15.0
# How soon the page asks again (milliseconds): often while text grows, less while it waits in the queue.
POLL_RUNNING_MS = 300
POLL_QUEUED_MS = 1000


@dataclass
class AnswerColumn:
    """One target's answer. `state`: "done" (finished), "writing" (growing now), "starting" (next to
    write, no text yet: the worker loads the model or the adapter, or reads the prompt), "waiting" (not
    begun: the request is queued or answers before it come first), "stopped" (the request failed while
    this answer was being written: the text so far) or "missing" (failed before it began)."""

    label: str
    adapter_id: int | None
    state: str
    output: AnswerOutput | None = None
    tokens_per_second: float | None = None
    hint: str = ""


@dataclass
class GenerationWatch:
    generation: GenerationRequest
    columns: list[AnswerColumn]
    elapsed: float | None  # seconds: queued since creation, running since start, done from start to finish
    ahead: int = 0  # queued: generation requests the inference workers take first (or are answering)
    evaluations: int = 0  # queued: blind evaluations whose answers the inference workers are generating
    training: int = 0  # queued: training jobs running (a worker that also trains may be busy with one)
    quiet_for: float | None = None  # running: seconds since the worker last wrote
    error: str = ""  # failed or cancelled: why, as the viewer may read it (`generation_error_message`)

    @property
    def poll_ms(self) -> int:
        return POLL_QUEUED_MS if self.generation.status == GenerationStatus.QUEUED else POLL_RUNNING_MS

    @property
    def current(self) -> AnswerColumn | None:
        """The answer the worker is on (running requests)."""
        return next((c for c in self.columns if c.state in ("writing", "starting")), None)

    @property
    def note(self) -> str:
        """What the request waits for (queued), or why it may never finish (running, worker silent)."""
        if self.generation.status == GenerationStatus.QUEUED:
            return queue_note(self)
        if self.generation.status == GenerationStatus.RUNNING:
            return quiet_note(self)
        return ""


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def generation_get_watched(project: Project, request_id: Any) -> GenerationRequest:
    """The project's request with the database's now() (`db_now`); Http404 for any other id, so a
    request of another project is as unknown as one that does not exist."""
    try:
        pk = int(request_id)
    except (TypeError, ValueError):
        raise Http404("No such generation request.") from None
    if not 0 < pk < 2**63:
        raise Http404("No such generation request.")
    found = GenerationRequest.objects.select_related("base_model").filter(project=project, pk=pk).annotate(db_now=Now())
    request = found.first()
    if request is None:
        raise Http404("No such generation request.")
    return request


def answer_columns(generation: GenerationRequest) -> list[AnswerColumn]:
    """One column per target, in order, from the outputs the worker wrote so far."""
    outputs: list[AnswerOutput] = list(generation.outputs or [])
    failed = generation.status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED)
    # The first answer not begun is the next one, unless the one before it is still being written.
    next_up = (
        len(outputs) if generation.status == GenerationStatus.RUNNING and not any(map(is_partial, outputs)) else -1
    )
    columns = []
    for i, target in enumerate(generation.targets):
        output = outputs[i] if i < len(outputs) else None
        if output is None:
            state = "missing" if failed else "starting" if i == next_up else "waiting"
        elif is_partial(output):
            state = "stopped" if generation.is_done else "writing"
        else:
            state = "done"
        columns.append(
            AnswerColumn(
                label=target["label"],
                adapter_id=target["adapter_id"],
                state=state,
                output=output,
                tokens_per_second=tokens_per_second(output) if state == "done" and output else None,
            )
        )
    return columns


def generation_watch(generation: GenerationRequest, *, staff: bool = False) -> GenerationWatch:
    """The state of a request fetched by `generation_get_watched`, with what it waits for when queued
    (`staff`: the viewer may read the recorded detail of a failure)."""
    now = getattr(generation, "db_now", None)
    status = generation.status
    watch = GenerationWatch(generation=generation, columns=answer_columns(generation), elapsed=None)
    if generation.error:
        watch.error = generation_error_message(generation.error_code, generation.error, staff=staff)
    if status == GenerationStatus.QUEUED:
        watch.elapsed = _seconds(now, generation.created_at)
        watch.ahead = GenerationRequest.objects.filter(
            Q(status=GenerationStatus.QUEUED, pk__lt=generation.pk) | Q(status=GenerationStatus.RUNNING)
        ).count()
        watch.evaluations = Evaluation.objects.filter(status=EvaluationStatus.RUNNING).count()
        watch.training = TrainingJob.objects.filter(status=JobStatus.RUNNING).count()
    elif status == GenerationStatus.RUNNING:
        watch.elapsed = _seconds(now, generation.started_at)
        watch.quiet_for = _seconds(now, generation.heartbeat_at or generation.started_at)
    else:
        watch.elapsed = _seconds(generation.finished_at, generation.started_at)
    return watch


def queue_note(watch: GenerationWatch) -> str:
    """What a queued request waits for, in plain words."""
    parts = []
    if watch.ahead:
        parts.append(f"{watch.ahead} request{'s' if watch.ahead != 1 else ''} ahead")
    if watch.evaluations:
        parts.append(f"generating the answers of {watch.evaluations} evaluation{'s' if watch.evaluations != 1 else ''}")
    if parts:
        return "Waiting for the inference worker: " + "; ".join(parts) + "."
    if watch.training:
        jobs = f"{watch.training} training job{'s' if watch.training != 1 else ''}"
        return f"Waiting for the inference worker, which may be busy with training ({jobs} running)."
    if (watch.elapsed or 0) >= UNTAKEN_SECONDS:
        return (
            "Waiting for the inference worker: nothing is ahead, yet no worker has taken this request. "
            "Is a worker running for the inference queue? (make run starts one.)"
        )
    return "Waiting for the inference worker."


def quiet_note(watch: GenerationWatch) -> str:
    """For a running request whose worker stopped writing: what may have happened, or ""."""
    if watch.quiet_for is None or watch.quiet_for < QUIET_SECONDS:
        return ""
    return (
        f"No word from the inference worker for {watch.quiet_for:.0f} s: it may have stopped. If it does not "
        "come back, this request ends with an error within a few minutes; you can send it again then."
    )
