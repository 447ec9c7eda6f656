"""One answer of a generation request: the typed result every backend returns, and the one shape
`GenerationRequest.outputs` stores it in.

`Answer` is what answering a conversation gives, whoever answered it: the inference worker's cached
model (`chat.generate_chat`) and the vLLM server (`vllm_client.VllmClient.chat`) both return it, and
every writer of `GenerationRequest.outputs` turns it into an entry with `answer_output` (the playground,
the generate API and /v1/ read that one shape back).

`GenerationRequest.outputs` holds one `AnswerOutput` per target, in the targets' order. While the
worker generates, the last entry is the answer so far (`partial` true, built by `answer_so_far`): it
grows every fraction of a second, and the entries before it are finished. A finished answer has no
`partial` key, and carries its `finish_reason` and `prompt_tokens` (rows written before every backend
wrote them may lack them: readers fall back to "stop" and 0).

Pure Python (no Django, no torch): the web process reads it as freely as the worker writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict


@dataclass(frozen=True)
class Answer:
    """One answer to one conversation, by one base model or adapter."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of turn or a stop string) | "length" (max_new_tokens) | "cancelled"
    seconds: float  # generation time


class AnswerOutput(TypedDict):
    adapter_id: int | None  # None: the base model alone
    label: str
    text: str
    new_tokens: int
    seconds: float  # generation time (so far, while partial)
    partial: NotRequired[bool]  # present (True) only while the answer is being written
    finish_reason: NotRequired[str]  # "stop" (end of turn) | "length" (max_new_tokens); finished answers
    prompt_tokens: NotRequired[int]  # finished answers


def answer_output(target: dict[str, Any], answer: Answer, *, partial: bool = False) -> AnswerOutput:
    """The stored entry for `target`'s answer (`target`: a `GenerationRequest.targets` entry). A partial
    one (the text so far) says so and has no finish reason or prompt length yet."""
    output: AnswerOutput = {
        "adapter_id": target["adapter_id"],
        "label": target["label"],
        "text": answer.text,
        "new_tokens": int(answer.completion_tokens),
        "seconds": round(float(answer.seconds), 4),
    }
    if partial:
        output["partial"] = True
    else:
        output["prompt_tokens"] = int(answer.prompt_tokens)
        output["finish_reason"] = answer.finish_reason
    return output


def answer_so_far(target: dict[str, Any], *, text: str, new_tokens: int, seconds: float) -> AnswerOutput:
    """The entry for an answer still being written (or stopped before it finished)."""
    so_far = Answer(text=text, prompt_tokens=0, completion_tokens=new_tokens, finish_reason="", seconds=seconds)
    return answer_output(target, so_far, partial=True)


def is_partial(output: dict[str, Any]) -> bool:
    return bool(output.get("partial"))


def finish_reason(output: dict[str, Any]) -> str:
    return str(output.get("finish_reason") or "stop")


def usage(output: dict[str, Any]) -> dict[str, int]:
    """OpenAI's `usage` of a stored answer."""
    prompt, completion = int(output.get("prompt_tokens") or 0), int(output.get("new_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def tokens_per_second(output: dict[str, Any]) -> float | None:
    """Generation speed of an answer, or None when it cannot be told (no tokens or no time yet)."""
    tokens, seconds = output.get("new_tokens") or 0, output.get("seconds") or 0.0
    if tokens <= 0 or seconds <= 0:
        return None
    return tokens / seconds
