"""Web side of the OpenAI-compatible endpoints: queue a chat completion, wait for it or stream it.

Nothing here imports torch: the answer comes from an inference worker through the
`GenerationRequest` row (`execute.chat_completion_execute` writes it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from django.db import transaction

from annotation import permissions
from training.models import GenerationRequest, GenerationStatus
from training.services.generation import clean_prompt, generation_wait

from .catalog import ServedModel
from .errors import OpenAIError
from .schema import ChatParams

DONE = (GenerationStatus.SUCCEEDED, GenerationStatus.FAILED)


def chat_completion_queue(*, user, served: ServedModel, params: ChatParams) -> GenerationRequest:
    """A `GenerationRequest` for one model on the inference queue (sent once the row is committed)."""
    permissions.require(permissions.can_view_project(user, served.project), "Only members can generate.")
    messages = clean_prompt(params.messages)
    with transaction.atomic():
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
        from training.inference_tasks import generate_chat_completion

        transaction.on_commit(lambda: generate_chat_completion.delay(request.pk))
    return request


def failure(code: str, message: str) -> OpenAIError:
    """The worker's refusal: its own errors (internal) are 500s, a request it cannot serve a 400."""
    if code == "internal":
        return OpenAIError(f"The inference worker failed: {message}", status=500, type="server_error", code=code)
    return OpenAIError(message, status=400, code=code or None)


def _usage(output: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(output.get("prompt_tokens", 0)), int(output.get("new_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_completion_wait(request: GenerationRequest, *, model_id: str, timeout: float) -> dict[str, Any]:
    """The `chat.completion` object once the worker answered; OpenAIError on failure or timeout."""
    request = generation_wait(request, timeout)
    if request.status == GenerationStatus.FAILED:
        raise failure(request.error_code, request.error)
    if not request.is_done:
        raise OpenAIError(
            f"No answer within {timeout:g} seconds: the inference workers are busy or not running.",
            status=504,
            type="server_error",
            code="timeout",
        )
    output = request.outputs[0]
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
                "finish_reason": output.get("finish_reason", "stop"),
            }
        ],
        "usage": _usage(output),
        "system_fingerprint": None,
    }


def _event(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode()


def chat_completion_stream(
    request: GenerationRequest, *, model_id: str, include_usage: bool, timeout: float, poll: float = 0.05
) -> Iterator[bytes]:
    """Server-Sent Events in OpenAI's `chat.completion.chunk` format, ending with `data: [DONE]`.

    The worker writes the answer so far to the row every few tokens; each new part is one chunk.
    `timeout` bounds the wait for the worker to start and any pause in its progress; a failure or a
    timeout ends the stream with an `{"error": ...}` event (the OpenAI client raises APIError).
    """
    head = {"id": f"chatcmpl-{request.pk}", "object": "chat.completion.chunk"}
    head |= {"created": int(request.created_at.timestamp()), "model": model_id, "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _event({**head, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    rows = GenerationRequest.objects.filter(pk=request.pk)
    sent, seen, deadline = "", None, time.monotonic() + timeout
    while True:
        status, outputs, code, error = rows.values_list("status", "outputs", "error_code", "error").get()
        output = outputs[0] if outputs else {}
        text = output.get("text", "")
        if len(text) > len(sent) and text.startswith(sent):
            yield chunk({"content": text[len(sent) :]})
            sent = text
        if status in DONE:
            break
        if (status, len(sent)) != seen:
            seen, deadline = (status, len(sent)), time.monotonic() + timeout
        elif time.monotonic() > deadline:
            waited = "to start" if status == GenerationStatus.QUEUED else "to go on"
            yield _event(
                OpenAIError(
                    f"The inference worker took more than {timeout:g} seconds {waited}.",
                    type="server_error",
                    code="timeout",
                ).body()
            )
            return
        time.sleep(poll)
    if status == GenerationStatus.FAILED:
        yield _event(failure(code, error).body())
        return
    yield chunk({}, output.get("finish_reason", "stop"))
    if include_usage:
        yield _event({**head, "choices": [], "usage": _usage(output)})
    yield _event("[DONE]")
