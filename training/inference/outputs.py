"""One answer of a generation request, as the inference worker writes it and the playground reads it.

`GenerationRequest.outputs` holds one `AnswerOutput` per target, in the targets' order. While the
worker generates, the last entry is the answer so far (`partial` true): it grows every fraction of a
second, and the entries before it are finished. A finished answer has no `partial` key.

Pure Python (no Django, no torch): the web process reads it as freely as the worker writes it.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class AnswerOutput(TypedDict):
    adapter_id: int | None  # None: the base model alone
    label: str
    text: str
    new_tokens: int
    seconds: float  # generation time (so far, while partial)
    partial: NotRequired[bool]  # present (True) only while the answer is being written
    finish_reason: NotRequired[str]  # "stop" (end of turn) | "length" (max_new_tokens)
    prompt_tokens: NotRequired[int]


def answer_so_far(target: dict[str, Any], *, text: str, new_tokens: int, seconds: float) -> AnswerOutput:
    """The entry for an answer still being written."""
    return {
        "adapter_id": target["adapter_id"],
        "label": target["label"],
        "text": text,
        "new_tokens": int(new_tokens),
        "seconds": round(float(seconds), 4),
        "partial": True,
    }


def is_partial(output: dict[str, Any]) -> bool:
    return bool(output.get("partial"))


def tokens_per_second(output: dict[str, Any]) -> float | None:
    """Generation speed of an answer, or None when it cannot be told (no tokens or no time yet)."""
    tokens, seconds = output.get("new_tokens") or 0, output.get("seconds") or 0.0
    if tokens <= 0 or seconds <= 0:
        return None
    return tokens / seconds
