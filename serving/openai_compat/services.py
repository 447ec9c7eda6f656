"""Web side of the OpenAI-compatible endpoints: queue a chat completion, wait for it or stream it.

Nothing here imports torch: the answer comes from an inference worker through the
`GenerationRequest` row (`services.generation.generation_execute` writes it, as for the playground) or,
with the vLLM backend (ANNOTUNE_INFERENCE_BACKEND=vllm), from the vLLM server over HTTP, written to the
same row by the same path (a stream relays vLLM's own stream, then writes the row the same way).

A request is admitted against the caps of `services.quotas` (429 beyond them, nothing
queued). A client that goes away, or that the server stops waiting for, cancels its request: the
worker stops at the next token. A stream sends an SSE comment while nothing new is said, so a client
that left is noticed even while the request waits in the queue. Errors name no server path or internal
URL unless the caller is staff (`selectors.generations.generation_error_message`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from annotation import permissions
from annotune import dispatch
from annotune.errors import ApplicationError
from serving.inference.outputs import Answer, AnswerOutput, answer_output, answer_so_far, finish_reason, usage
from serving.models import GenerationRequest, GenerationStatus
from serving.selectors.generations import generation_error_message
from serving.services import vllm_serving
from serving.services.backends import VllmBackend
from serving.services.generation import (
    CLIENT_LEFT,
    GAVE_UP,
    clean_prompt,
    fail_broker_down,
    generation_cancel,
    generation_claim,
    generation_execute,
    generation_finish,
    generation_wait,
    refuse_unservable,
    request_adapters,
    target_adapter,
)
from training.services import quotas

from .catalog import ServedModel
from .errors import OpenAIError
from .schema import ChatParams

DONE = (GenerationStatus.SUCCEEDED, GenerationStatus.FAILED, GenerationStatus.CANCELLED)
# A stream with nothing new to say sends an SSE comment this often (clients skip it): a client that left
# is noticed by the failed write.
KEEPALIVE_SECONDS = 1.0


def chat_completion_queue(*, user, served: ServedModel, params: ChatParams) -> GenerationRequest:
    """A `GenerationRequest` for one model on the inference queue (sent once the row is committed)."""
    permissions.require(permissions.can_view_project(user, served.project), "Only members can generate.")
    messages = clean_prompt(params.messages)
    try:
        refuse_unservable([served.adapter] if served.adapter else [])
    except ApplicationError as exc:
        raise OpenAIError(exc.message, param="model", code="adapter_not_servable") from None
    with transaction.atomic():
        quotas.generation_admit(user=user, project=served.project, runs_now=vllm_serving.enabled())
        request = GenerationRequest.objects.create(
            project=served.project,
            base_model=served.base_model,
            messages=messages,
            targets=[
                {"adapter_id": served.adapter.pk if served.adapter else None, "label": served.label, "model": served.id}
            ],
            params=params.generation_params(),
            created_by=user,
        )
        if vllm_serving.enabled():
            return request  # answered by the vLLM server when the caller waits or streams
        from serving.tasks import generate_chat_completion

        dispatch.send_on_commit(generate_chat_completion, request.pk, on_failure=lambda: fail_broker_down(request))
    return request


def failure(code: str, message: str, *, staff: bool = False) -> OpenAIError:
    """The worker's refusal: its own errors (internal) are 500s, a request it cannot serve a 400. The
    recorded detail only for staff (`generation_error_message`)."""
    message = generation_error_message(code, message, staff=staff)
    if code == "internal":
        text = f"The inference worker failed: {message}" if staff else message
        return OpenAIError(text, status=500, type="server_error", code=code)
    if code in ("broker_unavailable", "lost", "worker_lost"):
        return OpenAIError(message, status=503, type="server_error", code=code)
    if code in ("backend_unavailable", "model_not_served"):  # the vLLM server is down or serves another model
        return OpenAIError(message, status=503, type="server_error", code=code)
    if code in ("cancelled", "disconnected", "timeout"):
        return OpenAIError(message, status=504 if code == "timeout" else 499, type="server_error", code=code)
    return OpenAIError(message, status=400, code=code or None)


def chat_completion_wait(
    request: GenerationRequest,
    *,
    model_id: str,
    timeout: float,
    staff: bool = False,
    gone: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """The `chat.completion` object once the worker answered; OpenAIError on failure or timeout. A
    request the server stops waiting for, or whose client went away (`gone()`), is cancelled."""
    if vllm_serving.enabled():
        generation_execute(request.pk, VllmBackend())
    request = generation_wait(request, timeout, gone=gone)
    if request.status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
        raise failure(request.error_code, request.error, staff=staff)
    if not request.is_done:
        generation_cancel(request.pk, code="timeout", message=GAVE_UP)  # nobody can fetch it later
        raise OpenAIError(
            f"No answer within {timeout:g} seconds: the inference workers are busy or not running.",
            status=504,
            type="server_error",
            code="timeout",
        )
    output: AnswerOutput = request.outputs[0]
    return {
        "id": f"chatcmpl-{request.pk}",
        "object": "chat.completion",
        "created": int(request.created_at.timestamp()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": output["text"], "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason(output),
            }
        ],
        "usage": usage(output),
        "system_fingerprint": None,
    }


def _event(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _chunk_head(request: GenerationRequest, model_id: str) -> dict[str, Any]:
    head = {"id": f"chatcmpl-{request.pk}", "object": "chat.completion.chunk"}
    return head | {"created": int(request.created_at.timestamp()), "model": model_id, "system_fingerprint": None}


def _chunk(head: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return _event({**head, "choices": [choice]})


def chat_completion_stream(
    request: GenerationRequest,
    *,
    model_id: str,
    include_usage: bool,
    timeout: float,
    poll: float = 0.05,
    staff: bool = False,
) -> Iterator[bytes]:
    """Server-Sent Events in OpenAI's `chat.completion.chunk` format, ending with `data: [DONE]`.

    The worker writes the answer so far to the row every few tokens; each new part is one chunk.
    `timeout` bounds the wait for the worker to start and any pause in its progress; a failure or a
    timeout ends the stream with an `{"error": ...}` event (the OpenAI client raises APIError).
    A stream closed before its end (the client went away) or timed out cancels the request.
    With the vLLM backend the server's stream is relayed instead (`chat_completion_stream_vllm`).
    """
    if vllm_serving.enabled():
        return chat_completion_stream_vllm(request, model_id=model_id, include_usage=include_usage, staff=staff)
    return _worker_stream(
        request, model_id=model_id, include_usage=include_usage, timeout=timeout, poll=poll, staff=staff
    )


def _worker_stream(
    request: GenerationRequest, *, model_id: str, include_usage: bool, timeout: float, poll: float, staff: bool
) -> Iterator[bytes]:
    head = _chunk_head(request, model_id)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _chunk(head, delta, finish)

    ended = False
    try:
        yield chunk({"role": "assistant", "content": ""})
        rows = GenerationRequest.objects.filter(pk=request.pk)
        sent, seen, deadline = "", None, time.monotonic() + timeout
        said = time.monotonic()
        while True:
            status, outputs, code, error = rows.values_list("status", "outputs", "error_code", "error").get()
            output = outputs[0] if outputs else {}
            text = output.get("text", "")
            if len(text) > len(sent) and text.startswith(sent):
                yield chunk({"content": text[len(sent) :]})
                sent, said = text, time.monotonic()
            if status in DONE:
                break
            if (status, len(sent)) != seen:
                seen, deadline = (status, len(sent)), time.monotonic() + timeout
            elif time.monotonic() > deadline:
                generation_cancel(request.pk, code="timeout", message=GAVE_UP)
                ended = True
                waited = "to start" if status == GenerationStatus.QUEUED else "to go on"
                yield _event(
                    OpenAIError(
                        f"The inference worker took more than {timeout:g} seconds {waited}.",
                        type="server_error",
                        code="timeout",
                    ).body()
                )
                return
            if time.monotonic() - said >= KEEPALIVE_SECONDS:
                said = time.monotonic()
                yield b": waiting\n\n"  # an SSE comment: the client skips it; a write to a client that left fails
            time.sleep(poll)
        ended = True
    finally:
        if not ended:  # closed before the end: the client went away (or the server stopped reading)
            generation_cancel(request.pk, code="disconnected", message=CLIENT_LEFT)
    if status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
        yield _event(failure(code, error, staff=staff).body())
        return
    yield chunk({}, finish_reason(output))
    if include_usage:
        yield _event({**head, "choices": [], "usage": usage(output)})
    yield _event("[DONE]")


def chat_completion_stream_vllm(
    request: GenerationRequest, *, model_id: str, include_usage: bool, staff: bool = False
) -> Iterator[bytes]:
    """vLLM's stream relayed as Annotune's chunks (this request's id and model id); the row gets the
    whole answer at the end. The request reaches vLLM before this returns, so an unreachable server
    or a refusal is an error response (503 / 400), not an error event inside a 200 stream."""
    from serving.inference.errors import InferenceError

    mine = generation_claim(request.pk, worker="vllm", capped=False).mine  # admitted when it was made
    if mine is None:
        raise OpenAIError("This request was already answered.", status=409, code="conflict")
    target = request.targets[0]
    started = time.monotonic()
    try:
        adapter = target_adapter(target, request_adapters(request))
        pieces = vllm_serving.chat_stream(
            base_model=request.base_model, adapter=adapter, messages=request.messages, params=request.params
        )
    except (InferenceError, ApplicationError) as exc:
        code = getattr(exc, "code", "invalid")
        generation_finish(mine, GenerationStatus.FAILED, [], code, exc.message)
        raise failure(code, exc.message, staff=staff) from None
    return _relay(
        mine,
        pieces,
        head=_chunk_head(request, model_id),
        target=target,
        include_usage=include_usage,
        started=started,
        staff=staff,
    )


def _relay(
    mine: QuerySet,
    pieces,
    *,
    head: dict[str, Any],
    target: dict[str, Any],
    include_usage: bool,
    started: float,
    staff: bool,
):
    from serving.inference.errors import InferenceError

    yield _chunk(head, {"role": "assistant", "content": ""})
    text, last = "", None

    def so_far() -> list[AnswerOutput]:  # vLLM counts the tokens only in its last chunk
        return [answer_so_far(target, text=text, new_tokens=0, seconds=time.monotonic() - started)]

    try:
        for piece in pieces:
            if piece.text:
                text += piece.text
                yield _chunk(head, {"content": piece.text})
            if piece.finish_reason:
                last = piece
    except InferenceError as exc:
        generation_finish(mine, GenerationStatus.FAILED, so_far(), exc.code, exc.message)
        yield _event(failure(exc.code, exc.message, staff=staff).body())
        return
    except GeneratorExit:  # the client went away: stop vLLM's stream too
        pieces.close()
        generation_finish(mine, GenerationStatus.CANCELLED, so_far(), "disconnected", CLIENT_LEFT)
        raise
    answer = Answer(
        text=text,
        prompt_tokens=(last.prompt_tokens or 0) if last else 0,
        completion_tokens=(last.completion_tokens or 0) if last else 0,
        finish_reason=(last.finish_reason or "stop") if last else "stop",
        seconds=time.monotonic() - started,
    )
    output = answer_output(target, answer)
    generation_finish(mine, GenerationStatus.SUCCEEDED, [output])
    yield _chunk(head, {}, answer.finish_reason)
    if include_usage:
        yield _event({**head, "choices": [], "usage": usage(output)})
    yield _event("[DONE]")
