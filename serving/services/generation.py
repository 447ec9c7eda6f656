"""Playground, generate API and /v1/: a conversation answered by the base model and / or adapters.

The web side validates and queues a `GenerationRequest` (inference queue); an inference worker keeps
the base models loaded (`serving.inference.cache.BaseModelCache`) and writes the answers back. With
the vLLM backend the web process answers it at once through the vLLM server.

`generation_execute` is the one way a request is answered: claim (`generation_claim`, the work kernel's
claim under the user's running cap), answer each target through a `backends.ServingBackend`, publish as it
grows (`AnswerPublisher`), finish (`generation_finish`); every write after the claim goes through the row
fenced to the worker's attempt (annotune/work.py). It
replaced four copies (the playground's worker and vLLM executes and /v1/'s two in
`openai_compat/execute.py`, with their own finish), and every output entry is built by
`serving.inference.outputs.answer_output`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotation.models import Project
from annotation.services.conversations import clean_messages
from annotune import dispatch, work
from annotune.errors import ApplicationError
from annotune.heartbeat import beat_time, beating
from serving.inference.outputs import Answer, AnswerOutput, answer_output, answer_so_far
from training.services import quotas

from ..models import Adapter, GenerationRequest, GenerationStatus
from ..selectors.adapters import adapters_by_id, serving_refusal
from . import vllm_serving
from .backends import Decoding, ServingBackend, VllmBackend

log = logging.getLogger(__name__)

DEFAULT_PARAMS = {"max_new_tokens": 128, "temperature": 0.0, "top_p": 1.0, "seed": 0}


class AdapterDeleted(ApplicationError):
    """An adapter a queued request names was deleted before a worker answered it."""

    code = "adapter_deleted"


def clean_params(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Generation settings with defaults; ApplicationError naming each bad one."""
    params = {**DEFAULT_PARAMS, **{k: v for k, v in (raw or {}).items() if v is not None}}
    errors: dict[str, list[str]] = {}
    limit = settings.ANNOTUNE_GENERATE_MAX_NEW_TOKENS

    def number(name: str, low: float, high: float, integer: bool = False) -> None:
        value = params.get(name)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and isinstance(value, float) and not value.is_integer():  # an int: float() may overflow
            ok = False
        if not ok or not low <= value <= high:
            errors[name] = [f"A {'whole ' if integer else ''}number from {low} to {high}."]
        else:
            params[name] = int(value) if integer else float(value)

    number("max_new_tokens", 1, limit, integer=True)
    number("temperature", 0, 2)
    number("top_p", 0.01, 1)
    number("seed", 0, 2**31 - 1, integer=True)
    unknown = set(params) - set(DEFAULT_PARAMS)
    if unknown:
        errors["non_field_errors"] = [f"Unknown setting(s): {', '.join(sorted(unknown))}."]
    if errors:
        raise ApplicationError("Some generation settings are invalid.", errors)
    return params


def clean_prompt(messages: Any) -> list[dict[str, str]]:
    cleaned = clean_messages(messages)
    if cleaned[-1]["role"] != "user":
        raise ApplicationError(
            "The conversation must end with a user turn to answer.", {"messages": ["End with user."]}
        )
    return cleaned


def parse_chat_text(text: str) -> list[dict[str, str]]:
    """The playground's text box: lines starting `System:`, `User:` or `Assistant:` open turns;
    text without any such prefix is one user prompt."""
    turns: list[dict[str, str]] = []
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        head, _, rest = line.partition(":")
        role = head.strip().lower()
        if role in {"system", "user", "assistant"} and _ == ":":
            turns.append({"role": role, "content": rest.strip()})
        elif turns:
            turns[-1]["content"] = f"{turns[-1]['content']}\n{line}".strip("\n")
        else:
            turns.append({"role": "user", "content": line})
    for turn in turns:
        turn["content"] = turn["content"].strip()
    return turns


def chat_text(messages: list[dict[str, str]]) -> tuple[str, str]:
    """The playground's system prompt and text box for a conversation (what `parse_chat_text` reads
    back): one user turn is the prompt alone, longer conversations are `User:` / `Assistant:` lines."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1 and turns[0]["role"] == "user" and not _opens_turn(turns[0]["content"]):
        return system, turns[0]["content"]
    return system, "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in turns)


def _opens_turn(text: str) -> bool:
    for line in text.split("\n"):
        head, colon, _ = line.partition(":")
        if colon and head.strip().lower() in {"system", "user", "assistant"}:
            return True
    return False


@transaction.atomic
def generation_request(
    *, project: Project, user, messages: Any, targets: list[int | None], params: dict[str, Any] | None = None
) -> GenerationRequest:
    """Queue a conversation for the base model (`None` in targets) and / or the given adapters.

    Every adapter must belong to the project and share one base model, whose plain answer `None`
    stands for; with no adapter the project's base model answers.
    """
    from annotation import permissions

    permissions.require(permissions.can_view_project(user, project), "Only members can generate.")
    cleaned = clean_prompt(messages)
    params = clean_params(params)
    if not targets:
        raise ApplicationError("Choose the base model or at least one adapter.", {"targets": ["Pick one."]})
    if len(targets) > settings.ANNOTUNE_GENERATE_MAX_TARGETS:
        raise ApplicationError(f"Compare at most {settings.ANNOTUNE_GENERATE_MAX_TARGETS} answers at once.")
    ids = [t for t in dict.fromkeys(targets) if t is not None]
    adapters = adapters_by_id(project, ids)
    for adapter_id in ids:
        if adapter_id not in adapters:
            raise ApplicationError(f"No adapter {adapter_id} in this project.", {"adapter": ["Unknown adapter."]})
    archived = [a.name for a in adapters.values() if a.archived]
    if archived:  # archived adapters are not served (the vLLM backend unloaded them, /v1/ does not list them)
        raise ApplicationError(
            f"Adapter “{archived[0]}” is archived: unarchive it to generate with it.", {"adapter": ["archived"]}
        )
    base_models = {a.base_model for a in adapters.values()}
    if len(base_models) > 1:
        names = ", ".join(sorted(f"“{a.name}” ({a.base_model.name})" for a in adapters.values()))
        raise ApplicationError(
            f"These adapters belong to different base models: {names}. Compare adapters of one base model.",
            {"adapter": ["base_model_mismatch"]},
        )
    base_model = next(iter(base_models)) if base_models else project.base_model
    if base_model is None:
        raise ApplicationError("This project has no base model yet; choose one in the project settings.")
    refuse_unservable(adapters.values())
    quotas.generation_admit(user=user, project=project, runs_now=vllm_serving.enabled())
    request = GenerationRequest.objects.create(
        project=project,
        base_model=base_model,
        messages=cleaned,
        targets=[
            {"adapter_id": t, "label": "Base model" if t is None else adapters[t].name} for t in dict.fromkeys(targets)
        ],
        params=params,
        created_by=user,
    )
    if vllm_serving.enabled():
        # The vLLM server is the queue: answered in this process once the row is committed.
        def answer_now() -> None:
            generation_execute(request.pk, VllmBackend())
            request.refresh_from_db()

        transaction.on_commit(answer_now)
        return request
    from ..tasks import generate_answers

    dispatch.send_on_commit(generate_answers, request.pk, on_failure=lambda: fail_broker_down(request))
    return request


BROKER_DOWN = "The task queue is unavailable, so nothing was generated. Try again in a minute."


def fail_broker_down(request: GenerationRequest) -> None:
    """Nobody waits minutes for an answer: a request that could not be sent fails at once (503)."""
    GenerationRequest.objects.filter(pk=request.pk, status=GenerationStatus.QUEUED).update(
        status=GenerationStatus.FAILED, error_code="broker_unavailable", error=BROKER_DOWN, finished_at=timezone.now()
    )


def refuse_unservable(adapters) -> None:
    """ApplicationError naming an adapter the selected backend cannot serve (vLLM: DoRA)."""
    for adapter in adapters:
        refusal = serving_refusal(adapter)
        if refusal:
            raise ApplicationError(f"Adapter “{adapter.name}”: {refusal}", {"adapter": ["adapter_not_servable"]})


def active_adapter(project: Project) -> Adapter | None:
    return Adapter.objects.filter(project=project, is_active=True).first()


# How often a waiting web thread looks whether its client is still there.
GONE_CHECK_SECONDS = 0.5
CLIENT_LEFT = "The client went away before the answer was finished, so generation stopped."
GAVE_UP = "No answer within the time the server waits, so generation stopped. Send it again."


def generation_wait(
    request: GenerationRequest, timeout: float, *, gone: Callable[[], bool] | None = None
) -> GenerationRequest:
    """Poll the row until the worker finished it or `timeout` seconds passed; returns the latest row.

    `gone()` says whether the caller's client went away (checked every GONE_CHECK_SECONDS): the request
    is then cancelled, so the worker stops generating an answer nobody reads."""
    deadline = time.monotonic() + timeout
    interval = 0.005
    checked = time.monotonic()
    while True:
        request.refresh_from_db(fields=["status", "outputs", "error", "error_code", "started_at", "finished_at"])
        if request.is_done or time.monotonic() >= deadline:
            return request
        if gone is not None and time.monotonic() - checked >= GONE_CHECK_SECONDS:
            checked = time.monotonic()
            if gone():
                generation_cancel(request.pk, code="disconnected", message=CLIENT_LEFT)
                request.refresh_from_db(fields=["status", "error", "error_code", "finished_at"])
                return request
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 0.1)


def generation_cancel(request_id: int, *, code: str = "cancelled", message: str = CLIENT_LEFT) -> bool:
    """Cancel a request still queued or running (False: it had ended). A queued one is never taken; a
    running one stops at its worker's next check (between tokens, `AnswerPublisher.stop_requested`),
    keeping the text so far."""
    return bool(
        GenerationRequest.objects.filter(
            pk=request_id, status__in=[GenerationStatus.QUEUED, GenerationStatus.RUNNING]
        ).update(status=GenerationStatus.CANCELLED, error_code=code[:50], error=message, finished_at=beat_time())
    )


@dataclass(frozen=True)
class GenerationClaim:
    """What a worker's claim of a request got: `outcome` "claimed", "skipped" (the row is not queued:
    answered, cancelled, failed) or "deferred" (its user is at the running cap); once claimed, `mine` is
    the request fenced to this attempt (`annotune.work.fenced`), which every write of the worker goes through."""

    outcome: str
    mine: QuerySet | None = None


def generation_claim(request_id: int, *, worker: str, capped: bool = True) -> GenerationClaim:
    """queued -> running for this worker (`annotune.work.claim`: one winner, the attempt counted); "deferred"
    when its user already has ANNOTUNE_GENERATE_RUNNING_PER_USER requests being answered (`capped`): it stays
    queued and the task sends it again, so others go first. The cap is read and the row taken in one
    transaction with the user locked."""
    with transaction.atomic():
        queued = GenerationRequest.objects.filter(id=request_id, status=GenerationStatus.QUEUED)
        user_id = queued.values_list("created_by_id", flat=True).first()
        if capped and user_id is not None and quotas.running_cap_reached(user_id):
            return GenerationClaim("deferred")
        # started_at by the database's clock, as the heartbeat: the reaper compares both with it.
        mine = work.claim(GenerationRequest, request_id, started_at=beat_time(), worker=worker[:200])
    return GenerationClaim("skipped") if mine is None else GenerationClaim("claimed", mine)


# -- worker side ----------------------------------------------------------------------------------
# The worker publishes the answer so far at most this often (each write is one small UPDATE).
STREAM_INTERVAL_SECONDS = 0.2
# A /v1/ stream's reader polls the row every 0.05 s: the worker writes that often for `stream` requests.
STREAMED_INTERVAL_SECONDS = 0.05

# How often a generating worker looks whether its request is still wanted (cancelled, or failed by the reaper).
STOP_CHECK_SECONDS = 0.25


class AnswerPublisher:
    """Writes the answers of a running request as they grow: the finished ones and the one so far.

    Every write goes through the row fenced to the worker's attempt (a request the reaper failed keeps its
    failure) and refreshes its heartbeat. A write the database refuses (SQLite busy, a blip) is skipped: the next one
    carries the whole text anyway, and the final write is the worker's own (`generation_finish`).

    A write that finds the row no longer running (cancelled because its client left, or failed by the
    reaper) means nobody wants the rest: `stop_requested()` turns true, and the generation stops at the
    next token. Between writes it looks at the row at most every STOP_CHECK_SECONDS.
    """

    def __init__(self, request_id: int, mine: QuerySet) -> None:
        self.request_id = request_id
        self.rows = mine  # the request fenced to this attempt (`generation_claim`)
        self.done: list[AnswerOutput] = []
        self.current: AnswerOutput | None = None
        self._target: dict[str, Any] = {}
        self._started = 0.0
        self.stopped = False
        self._looked = time.monotonic()

    def __call__(self, text: str, new_tokens: int) -> None:
        self.report(text, new_tokens)

    def stop_requested(self) -> bool:
        """Whether the request stopped being wanted (cheap: called between tokens)."""
        if not self.stopped and time.monotonic() - self._looked >= STOP_CHECK_SECONDS:
            self._looked = time.monotonic()
            try:
                self.stopped = not self.rows.exists()
            except DatabaseError as exc:
                log.info("generation %s not checked for a cancel: %s", self.request_id, exc)
        return self.stopped

    def start(self, target: dict[str, Any]) -> None:
        """A new answer begins (the one before, if any, was added with `finished`)."""
        self._target, self._started, self.current = target, time.monotonic(), None

    def report(self, text: str, new_tokens: int) -> None:
        self.current = answer_so_far(
            self._target, text=text, new_tokens=new_tokens, seconds=time.monotonic() - self._started
        )
        self._write([*self.done, self.current])
        if settings.INFERENCE_STREAM_DELAY_MS:  # tests: a tiny model answers faster than a page can watch
            time.sleep(settings.INFERENCE_STREAM_DELAY_MS / 1000)

    def finished(self, answer: Answer) -> None:
        self.done.append(answer_output(self._target, answer))
        self.current = None
        self._write(self.done)

    def outputs(self) -> list[AnswerOutput]:
        """What the row keeps when the request ends now: the finished answers and the one so far."""
        return [*self.done, self.current] if self.current else list(self.done)

    def _write(self, outputs: list[AnswerOutput]) -> None:
        try:
            if not self.rows.update(outputs=outputs, heartbeat_at=beat_time()):
                self.stopped = True
            self._looked = time.monotonic()
        except DatabaseError as exc:
            log.info("answer so far not written for generation %s: %s", self.request_id, exc)


def request_adapters(request: GenerationRequest) -> dict[int, Adapter]:
    """The adapters a request's targets name that still exist, by id."""
    ids = [t["adapter_id"] for t in request.targets if t["adapter_id"] is not None]
    return {a.pk: a for a in Adapter.objects.filter(pk__in=ids).select_related("base_model")}


def target_adapter(target: dict[str, Any], adapters: dict[int, Adapter]) -> Adapter | None:
    """The adapter a target names (None: the base model alone); AdapterDeleted when it is gone."""
    adapter_id = target["adapter_id"]
    if adapter_id is None:
        return None
    if adapter_id not in adapters:
        raise AdapterDeleted(f"Adapter “{target['label']}” was deleted.")
    return adapters[adapter_id]


def generation_execute(request_id: int, backend: ServingBackend) -> str:
    """Claim the request and answer every target through `backend`, publishing each answer as it grows,
    then finish the row: "succeeded", "failed", "cancelled" when the request stopped being wanted
    meanwhile (its row then keeps what the cancel or the reaper wrote, with the text so far), or the
    claim's "skipped" / "deferred".

    The one path for the playground, the generate API and /v1/ (a request with one target), on either
    backend. A /v1/ request's `stop` strings end its answer, and with `stream` the text so far is written
    every STREAMED_INTERVAL_SECONDS for the reader polling the row."""
    from serving.inference.errors import InferenceError

    # A backend answering in the caller's process: the request was admitted against the running cap.
    claim = generation_claim(request_id, worker=backend.worker, capped=not backend.inline)
    if claim.mine is None:
        return claim.outcome
    mine = claim.mine
    request = GenerationRequest.objects.select_related("base_model").get(pk=request_id)
    decoding = Decoding.from_params({**DEFAULT_PARAMS, **request.params})
    interval = STREAMED_INTERVAL_SECONDS if request.params.get("stream") else STREAM_INTERVAL_SECONDS
    publisher = AnswerPublisher(request_id, mine)
    try:
        adapters = request_adapters(request)
        # Loading a base model or an adapter reports nothing for a while: the heartbeat says the worker lives.
        with beating(publisher.rows, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS):
            for target in request.targets:
                adapter = target_adapter(target, adapters)
                publisher.start(target)
                answer = backend.answer(
                    base_model=request.base_model,
                    adapter=adapter,
                    messages=request.messages,
                    decoding=decoding,
                    on_text=publisher,
                    interval=interval,
                    should_stop=publisher.stop_requested,
                )
                if publisher.stop_requested() or answer.finish_reason == "cancelled":
                    return "cancelled"
                publisher.finished(answer)
                if publisher.stopped:
                    return "cancelled"
    except (InferenceError, ApplicationError) as exc:
        code = getattr(exc, "code", "invalid")
        generation_finish(mine, GenerationStatus.FAILED, publisher.outputs(), code, exc.message)
        return "failed"
    except Exception as exc:
        log.exception("generation %s failed", request_id)
        error = f"{type(exc).__name__}: {exc}"
        generation_finish(mine, GenerationStatus.FAILED, publisher.outputs(), "internal", error)
        return "failed"
    generation_finish(mine, GenerationStatus.SUCCEEDED, publisher.outputs())
    return "succeeded"


def generation_finish(
    mine: QuerySet, status: str, outputs: list[AnswerOutput], code: str = "", error: str = ""
) -> bool:
    """End a request with its outputs (built by `serving.inference.outputs`), through the row fenced to the
    worker's attempt (`generation_claim`); False when it was no longer running that attempt: one the reaper
    failed or its client cancelled meanwhile keeps what was written."""
    # finished_at by the database's clock, as started_at: the page shows the time between them.
    return bool(mine.update(status=status, outputs=outputs, error_code=code[:50], error=error, finished_at=beat_time()))
