"""The body of `POST /v1/chat/completions`, checked field by field into `ChatParams` (OpenAI's names)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .errors import OpenAIError

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_STOP = 4
# Accepted and ignored: they change nothing about a single text answer (or only its bookkeeping).
IGNORED = {"user", "metadata", "store", "service_tier", "parallel_tool_calls", "safety_identifier", "prompt_cache_key"}
# Accepted only with the value that means "not used".
NEUTRAL = {
    "frequency_penalty": (0, 0.0, None),
    "presence_penalty": (0, 0.0, None),
    "logprobs": (False, None),
    "top_logprobs": (0, None),
    "logit_bias": (None,),
    "tools": (None,),
    "tool_choice": (None, "none"),
    "functions": (None,),
    "function_call": (None, "none"),
    "modalities": (None,),
    "audio": (None,),
    "prediction": (None,),
    "reasoning_effort": (None,),
    "web_search_options": (None,),
}
KNOWN = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "n"}
KNOWN |= {"stream", "stream_options", "response_format"}


@dataclass
class ChatParams:
    model: str
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    stop: list[str]
    stream: bool
    include_usage: bool

    def generation_params(self) -> dict[str, Any]:
        """What the `GenerationRequest` row keeps (the worker reads it back)."""
        return {
            "max_new_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": self.stop,
            "stream": self.stream,
            "api": "openai",
        }


def _invalid(param: str, message: str, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(message, param=param, code=code)


def _number(body: dict, name: str, default: float, low: float, high: float, *, integer: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer and isinstance(value, float) and not value.is_integer():  # an int: float() may overflow
        ok = False
    if not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise _invalid(name, f"Invalid '{name}': expected {kind} from {low} to {high}, got {value!r}.")
    return int(value) if integer else float(value)


def _content(index: int, content: Any) -> str:
    """Text content: a string, or a list of `{"type": "text", "text": ...}` parts (joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _invalid(
                    f"messages[{index}].content", "Only text content parts are supported (type 'text').", "invalid_type"
                )
            texts.append(part["text"])
        return "".join(texts)
    raise _invalid(f"messages[{index}].content", "Message content must be a string or text parts.", "invalid_type")


def _messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise _invalid("messages", "'messages' must be a non-empty list of {role, content} objects.", "invalid_type")
    turns = []
    for index, turn in enumerate(raw):
        if not isinstance(turn, dict):
            raise _invalid(
                f"messages[{index}]", "Each message must be an object with role and content.", "invalid_type"
            )
        role = turn.get("role")
        if role not in ROLES:
            raise _invalid(
                f"messages[{index}].role",
                f"Unsupported role {role!r}: use system, developer, user or assistant (no tools here).",
            )
        if turn.get("tool_calls") or turn.get("function_call"):
            raise _invalid(f"messages[{index}]", "Tool calls are not supported by this server.")
        turns.append({"role": ROLES[role], "content": _content(index, turn.get("content"))})
    return turns


def _stop(raw: Any) -> list[str]:
    if raw is None:
        return []
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOP:
        raise _invalid("stop", f"'stop' must be a non-empty string or a list of at most {MAX_STOP} of them.")
    return stops


def parse_chat_request(body: Any) -> ChatParams:
    if not isinstance(body, dict):
        raise OpenAIError("The request body must be a JSON object.", code="invalid_type")
    unknown = sorted(set(body) - KNOWN - IGNORED - set(NEUTRAL))
    if unknown:
        raise _invalid(unknown[0], f"Unrecognized request argument supplied: {unknown[0]}", "unknown_parameter")
    for name, neutral in NEUTRAL.items():
        value = body.get(name)
        if value not in neutral and value not in ([], {}):
            raise _invalid(name, f"'{name}' is not supported by this server; leave it out.", "unsupported_parameter")
    if "model" not in body:
        raise _invalid("model", "Missing required parameter: 'model'.", "missing_required_parameter")
    if "messages" not in body:
        raise _invalid("messages", "Missing required parameter: 'messages'.", "missing_required_parameter")
    if body.get("n") not in (None, 1):
        raise _invalid("n", "Only n=1 is supported: ask again for another answer.", "unsupported_value")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise _invalid("response_format", "Only the 'text' response format is supported.", "unsupported_value")
    stream = body.get("stream")
    if stream not in (None, True, False):
        raise _invalid("stream", "'stream' must be a boolean.", "invalid_type")
    options = body.get("stream_options")
    if options is not None and (
        not isinstance(options, dict) or set(options) - {"include_usage", "include_obfuscation"}
    ):
        raise _invalid("stream_options", "'stream_options' takes only include_usage.")
    if options is not None and not stream:
        raise _invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.")
    limit = settings.ANNOTUNE_GENERATE_MAX_NEW_TOKENS
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    return ChatParams(
        model=body["model"],
        messages=_messages(body["messages"]),
        max_tokens=_number(body, name, limit, 1, limit, integer=True),
        temperature=_number(body, "temperature", 1.0, 0, 2),
        top_p=_number(body, "top_p", 1.0, 0.01, 1),
        seed=_number(body, "seed", secrets.randbelow(2**31), -(2**63), 2**64 - 1, integer=True) % 2**31,
        stop=_stop(body.get("stop")),
        stream=bool(stream),
        include_usage=bool((options or {}).get("include_usage")),
    )
