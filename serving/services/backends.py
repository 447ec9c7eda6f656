"""The serving seam: who answers a conversation for one base model and adapter (or the base alone).

Every answer Annotune generates for a user goes through a `ServingBackend`: the playground and the
generate API, /v1/ (both through `generation.generation_execute`) and blind evaluations
(`evaluations.evaluation_generate`). Before, the worker's cached model and the vLLM server were called
in four places, each with its own copy of the call and of the result's shape; now there is one
interface, two implementations, and one typed result (`serving.inference.outputs.Answer`):

- `WorkerBackend`: the inference worker's cached base models with adapters switched in place
  (`serving.inference.chat.generate_chat`); streams the text so far and stops when asked;
- `VllmBackend`: the vLLM server over HTTP (`vllm_serving.chat`); whole answers, so it never calls
  `on_text` and cannot stop an answer halfway.

`current_backend()` picks one from ANNOTUNE_INFERENCE_BACKEND. Nothing here imports torch at module
level: the web process uses the vLLM backend, and only the worker backend's method loads a model.
(/v1/'s streamed answers from vLLM relay the server's own stream instead: `openai_compat.services`.)
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from serving.inference.outputs import Answer
from training.models import BaseModel

from ..models import Adapter
from . import serving, vllm_serving

TextCallback = Callable[[str, int], None]  # (the answer so far, tokens generated so far)
StopCheck = Callable[[], bool]  # asked between tokens: True ends the answer early (finish reason "cancelled")

# How often a streaming backend reports the text so far unless told otherwise.
DEFAULT_INTERVAL_SECONDS = 0.2


@dataclass(frozen=True)
class Decoding:
    """How to decode: temperature 0 is greedy; `stop` strings end the answer (not included in it)."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Decoding:
        """From a `GenerationRequest.params` (validated when the request was made)."""
        return cls(
            max_new_tokens=int(params["max_new_tokens"]),
            temperature=float(params["temperature"]),
            top_p=float(params["top_p"]),
            seed=int(params["seed"]),
            stop=tuple(params.get("stop") or ()),
        )


@runtime_checkable
class ServingBackend(Protocol):
    """Answers one conversation at a time for a base model and an adapter (None: the base alone)."""

    # What a request's row records as its `worker` (this host, or "vllm").
    worker: str
    # True: answers in the calling process (the web process waits; the request was admitted against the
    # user's running cap when it was made). False: answers in a queue worker, which applies that cap.
    inline: bool

    def answer(
        self,
        *,
        base_model: BaseModel,
        adapter: Adapter | None,
        messages: list[dict[str, str]],
        decoding: Decoding,
        on_text: TextCallback | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        should_stop: StopCheck | None = None,
    ) -> Answer:
        """The answer; `on_text` may be called every `interval` seconds with the text so far (a backend
        that cannot stream never calls it), `should_stop` may end it early. Raises InferenceError (or
        ApplicationError) saying what went wrong."""
        ...


class WorkerBackend:
    """The inference worker's cache of base models (`serving.inference.cache.BaseModelCache`)."""

    inline = False

    def __init__(self, cache: Any = None, *, cache_factory: Callable[[], Any] | None = None) -> None:
        self._cache, self._cache_factory = cache, cache_factory
        self.worker = socket.gethostname()

    @property
    def cache(self) -> Any:
        # Made on first answer, not before: the worker claims a request before it imports torch and builds
        # the cache (seconds on a busy host), so the request shows as started while the model loads.
        if self._cache is None and self._cache_factory is not None:
            self._cache = self._cache_factory()
        return self._cache

    def answer(
        self,
        *,
        base_model: BaseModel,
        adapter: Adapter | None,
        messages: list[dict[str, str]],
        decoding: Decoding,
        on_text: TextCallback | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        should_stop: StopCheck | None = None,
    ) -> Answer:
        from serving.inference.chat import generate_chat  # torch: the worker only

        return generate_chat(
            self.cache,
            base_model.source,
            messages,
            **serving.cache_target(adapter),
            max_new_tokens=decoding.max_new_tokens,
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            seed=decoding.seed,
            stop=decoding.stop,
            on_text=on_text,
            interval=interval,
            should_stop=should_stop,
        )


class VllmBackend:
    """The vLLM server at ANNOTUNE_VLLM_URL; adapters are loaded into it on first use."""

    worker = "vllm"
    inline = True

    def answer(
        self,
        *,
        base_model: BaseModel,
        adapter: Adapter | None,
        messages: list[dict[str, str]],
        decoding: Decoding,
        on_text: TextCallback | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        should_stop: StopCheck | None = None,
    ) -> Answer:
        return vllm_serving.chat(base_model=base_model, adapter=adapter, messages=messages, params=asdict(decoding))


def current_backend(cache: Callable[[], Any] | None = None) -> ServingBackend:
    """The backend ANNOTUNE_INFERENCE_BACKEND names. `cache()` gives the worker's model cache; the worker
    backend calls it at its first answer (so a process using vLLM never loads torch, and a request is
    claimed before torch is imported)."""
    if vllm_serving.enabled():
        return VllmBackend()
    if cache is None:
        raise RuntimeError("The worker backend answers in an inference worker, which gives it its model cache.")
    return WorkerBackend(cache_factory=cache)
