"""A small HTTP client of a vLLM OpenAI-compatible server started with `--enable-lora`.

Pure Python (urllib, no Django, no torch): the web process may use it. It speaks the endpoints
Annotune needs: `GET /v1/models`, the dynamic LoRA endpoints (`POST /v1/load_lora_adapter`,
`POST /v1/unload_lora_adapter`, which need `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True` on the server)
and `POST /v1/chat/completions`, streamed or not. Every failure is an `InferenceError` whose message
says what to fix: `BackendUnavailableError` when the server cannot be reached or fails (5xx),
`BackendModelNotFoundError` for a model name the server does not serve, `BackendRefusedError` for a
request the server refused (4xx).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from training.engine.model_text import model_text

from .errors import BackendModelNotFoundError, BackendRefusedError, BackendUnavailableError, InferenceError
from .outputs import Answer


@dataclass
class ChatChunk:
    """One event of a streamed answer: new text, and at the end the finish reason and token counts."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class VllmClient:
    def __init__(self, base_url: str, *, api_key: str = "", timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v1"):  # accept the OpenAI client's base_url form too
            self.base_url = self.base_url[: -len("/v1")]
        self.api_key = api_key
        self.timeout = timeout

    # -- adapters ---------------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """The server's model cards: base models (`parent` None) and loaded LoRA adapters."""
        with self._open("GET", "/v1/models") as response:
            return list(json.loads(self._read(response)).get("data", []))

    def load_lora(self, name: str, path: str) -> bool:
        """Load the PEFT folder `path` (as the server sees it) under `name`; False if already loaded."""
        try:
            with self._open("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path}):
                return True
        except (BackendRefusedError, BackendModelNotFoundError, BackendUnavailableError) as exc:
            status, detail = exc.extra.get("status"), exc.extra.get("detail", "")
            if status == 400 and "already been loaded" in detail:
                return False
            if status == 404:  # vLLM's LoRAAdapterNotFoundError: nothing at that path on its side
                raise BackendRefusedError(
                    f"The vLLM server finds no adapter files at {path}: it must be able to read that folder "
                    "(same machine, or a shared volume named by ANNOTUNE_VLLM_ADAPTER_ROOT)."
                ) from None
            if status == 500:  # the engine refused the files: DoRA, a rank above --max-lora-rank, ...
                raise BackendRefusedError(f"The vLLM server could not load the adapter from {path}: {detail}") from None
            raise

    def unload_lora(self, name: str) -> bool:
        """Unload `name`; False when the server did not have it."""
        try:
            with self._open("POST", "/v1/unload_lora_adapter", {"lora_name": name}):
                return True
        except BackendModelNotFoundError:
            return False

    # -- answers ----------------------------------------------------------------------------------
    def chat(self, model: str, messages: list[dict[str, str]], **params: Any) -> Answer:
        """A whole answer; `params`: max_tokens, temperature, top_p, seed, stop (OpenAI's names)."""
        started = time.monotonic()
        body = {"model": model, "messages": messages, **_sampling(params)}
        with self._open("POST", "/v1/chat/completions", body) as response:
            data = json.loads(self._read(response))
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Answer(
            text=model_text(choice["message"].get("content") or ""),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason") or "stop",
            seconds=time.monotonic() - started,
        )

    def chat_stream(
        self, model: str, messages: list[dict[str, str]], **params: Any
    ) -> Generator[ChatChunk, None, None]:
        """The answer as it is generated (Server-Sent Events); the last chunk has the finish reason and usage."""
        body = {"model": model, "messages": messages, **_sampling(params), "stream": True}
        body["stream_options"] = {"include_usage": True}
        finish: str | None = None
        with self._open("POST", "/v1/chat/completions", body) as response:
            for raw in self._lines(response):
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    return
                event = json.loads(payload)
                if "error" in event or event.get("object") == "error":
                    raise _refusal(500, event)
                usage = event.get("usage")
                for choice in event.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    text = model_text((choice.get("delta") or {}).get("content") or "")
                    if text:
                        yield ChatChunk(text=text)
                if usage:
                    yield ChatChunk(
                        finish_reason=finish or "stop",
                        prompt_tokens=int(usage.get("prompt_tokens", 0)),
                        completion_tokens=int(usage.get("completion_tokens", 0)),
                    )
        raise BackendUnavailableError(f"The vLLM server at {self.base_url} ended the stream without [DONE].")

    # -- HTTP -------------------------------------------------------------------------------------
    def _open(self, method: str, path: str, body: dict[str, Any] | None = None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)  # noqa: S310 (a configured http(s) URL)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
        except urllib.error.HTTPError as error:
            raise self._http_error(error, path) from None
        except OSError as error:  # URLError, refused connections and timeouts
            reason = getattr(error, "reason", error)
            raise BackendUnavailableError(
                f"The vLLM server at {self.base_url} cannot be reached ({reason}). Start it, or check "
                "ANNOTUNE_VLLM_URL."
            ) from None

    def _read(self, response) -> bytes:
        try:
            return response.read()
        except OSError as error:
            raise self._stopped(error) from None

    def _lines(self, response) -> Iterator[bytes]:
        try:
            yield from response
        except OSError as error:
            raise self._stopped(error) from None

    def _stopped(self, error: OSError) -> BackendUnavailableError:
        return BackendUnavailableError(f"The vLLM server at {self.base_url} stopped answering ({error}).")

    def _http_error(self, error: urllib.error.HTTPError, path: str) -> InferenceError:
        try:
            body = json.loads(error.read() or b"{}")
        except ValueError:
            body = {}
        if error.code == 401:
            return BackendUnavailableError(
                f"The vLLM server at {self.base_url} refused Annotune's key: set ANNOTUNE_VLLM_API_KEY to the "
                "server's --api-key."
            )
        if error.code == 404 and path.endswith("_lora_adapter") and not body:
            return BackendUnavailableError(
                f"The vLLM server at {self.base_url} has no {path} endpoint: start it with "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora."
            )
        return _refusal(error.code, body)


def _sampling(params: dict[str, Any]) -> dict[str, Any]:
    allowed = ("max_tokens", "temperature", "top_p", "seed", "stop")
    return {k: v for k, v in params.items() if k in allowed and v not in (None, [], ())}


def _refusal(status: int, body: Any) -> BackendUnavailableError | BackendModelNotFoundError | BackendRefusedError:
    """vLLM's error bodies: `{"error": {"message", ...}}` (recent) or `{"object": "error", "message"}`."""
    body = body if isinstance(body, dict) else {}
    nested = body.get("error")
    error: dict[str, Any] = nested if isinstance(nested, dict) else body
    message = str(error.get("message") or f"HTTP {status}")
    extra = {"status": status, "detail": message}
    if status == 404 or (status == 400 and "does not exist" in message):
        return BackendModelNotFoundError(f"vLLM: {message}", extra)
    if status >= 500:
        return BackendUnavailableError(f"The vLLM server failed: {message}", extra)
    return BackendRefusedError(f"vLLM refused the request: {message}", extra)
