"""Worker side: answer a chat completion on the cached base model, writing the text as it grows
(or, with the vLLM backend, ask the vLLM server and write its answer).

The worker answers as the playground's requests are answered (`services.generation`): the claim
respects the user's running cap, every few tokens the answer so far is written to the row (fenced on
the row still running, refreshing its heartbeat), and a request cancelled meanwhile (its client left)
stops at the next token, keeping the text so far.
"""

from __future__ import annotations

import logging
import socket

from django.conf import settings
from django.utils import timezone

from annotune.errors import ApplicationError
from annotune.heartbeat import beating
from training.models import Adapter, GenerationRequest, GenerationStatus
from training.services import serving
from training.services.generation import STREAM_INTERVAL_SECONDS, AdapterDeleted, AnswerPublisher, generation_claim

log = logging.getLogger(__name__)

# A stream's reader polls the row every 0.05 s: the worker writes that often while it streams.
STREAMED_INTERVAL_SECONDS = 0.05


def chat_completion_execute(request_id: int, cache) -> str:
    """Claim the request (queued → running) and answer it; the row gets the text, token counts and
    finish reason (or the error). The answer so far is written every few tokens (often for `stream`)."""
    from training.inference.chat import generate_chat
    from training.inference.errors import InferenceError

    claim = generation_claim(request_id, worker=socket.gethostname())
    if claim != "claimed":
        return claim
    rows = GenerationRequest.objects.filter(pk=request_id)
    request = GenerationRequest.objects.select_related("base_model").get(pk=request_id)
    target = request.targets[0]
    params = request.params
    entry = {"adapter_id": target["adapter_id"], "label": target["label"]}
    publisher = AnswerPublisher(request_id)
    publisher.start(entry)
    try:
        with beating(publisher.rows, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS):
            adapter = None if target["adapter_id"] is None else target_adapter(target)
            result = generate_chat(
                cache,
                request.base_model.source,
                request.messages,
                **serving.cache_target(adapter),
                max_new_tokens=params["max_new_tokens"],
                temperature=params["temperature"],
                top_p=params["top_p"],
                seed=params["seed"],
                stop=params.get("stop") or (),
                on_text=publisher,
                interval=STREAMED_INTERVAL_SECONDS if params.get("stream") else STREAM_INTERVAL_SECONDS,
                should_stop=publisher.stop_requested,
            )
    except (InferenceError, ApplicationError) as exc:
        finish(rows, GenerationStatus.FAILED, publisher.outputs(), getattr(exc, "code", "invalid"), exc.message)
        return "failed"
    except Exception as exc:
        log.exception("chat completion %s failed", request_id)
        finish(rows, GenerationStatus.FAILED, publisher.outputs(), "internal", f"{type(exc).__name__}: {exc}")
        return "failed"
    if result.finish_reason == "cancelled" or publisher.stop_requested():
        return "cancelled"
    output = {
        **entry,
        "text": result.text,
        "new_tokens": result.completion_tokens,
        "prompt_tokens": result.prompt_tokens,
        "finish_reason": result.finish_reason,
        "seconds": round(result.seconds, 4),
    }
    finish(rows, GenerationStatus.SUCCEEDED, [output])
    return "succeeded"


def target_adapter(target: dict) -> Adapter:
    adapter = Adapter.objects.filter(pk=target["adapter_id"]).select_related("base_model").first()
    if adapter is None:
        raise AdapterDeleted(f"Adapter “{target['label']}” was deleted.")
    return adapter


def chat_completion_execute_vllm(request_id: int) -> str:
    """The same answer from the vLLM server (ANNOTUNE_INFERENCE_BACKEND=vllm), in the calling process
    (admitted against the user's running cap when it was made)."""
    from training.inference.errors import InferenceError
    from training.services import vllm_serving

    rows = GenerationRequest.objects.filter(pk=request_id)
    claim = generation_claim(request_id, worker="vllm", capped=False)
    if claim != "claimed":
        return claim
    request = GenerationRequest.objects.select_related("base_model").get(pk=request_id)
    target = request.targets[0]
    try:
        adapter = None if target["adapter_id"] is None else target_adapter(target)
        result = vllm_serving.chat(
            base_model=request.base_model, adapter=adapter, messages=request.messages, params=request.params
        )
    except (InferenceError, ApplicationError) as exc:
        finish(rows, GenerationStatus.FAILED, [], getattr(exc, "code", "invalid"), exc.message)
        return "failed"
    except Exception as exc:
        log.exception("chat completion %s failed", request_id)
        finish(rows, GenerationStatus.FAILED, [], "internal", f"{type(exc).__name__}: {exc}")
        return "failed"
    output = {
        "adapter_id": target["adapter_id"],
        "label": target["label"],
        "text": result.text,
        "new_tokens": result.completion_tokens,
        "prompt_tokens": result.prompt_tokens,
        "finish_reason": result.finish_reason,
        "seconds": round(result.seconds, 4),
    }
    finish(rows, GenerationStatus.SUCCEEDED, [output])
    return "succeeded"


def finish(rows, status: str, outputs: list, code: str = "", error: str = "") -> None:
    # Only a running request: one the reaper failed meanwhile (its caller was told so) keeps that answer.
    rows.filter(status=GenerationStatus.RUNNING).update(
        status=status, outputs=outputs, error_code=code[:50], error=error, finished_at=timezone.now()
    )
