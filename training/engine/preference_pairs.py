"""Preference pairs in TRL's conversational preference format, read and checked (no torch).

One pair per JSONL line: `{"prompt": [messages], "chosen": [{"role": "assistant", "content": ...}],
"rejected": [{"role": "assistant", "content": ...}]}`. The prompt ends with a user turn; chosen and
rejected are one assistant answer each, and differ (a pair of equal answers teaches nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DataError

PROMPT_ROLES = ("system", "user", "assistant")


def check_pair(item: Any, n: int) -> dict[str, Any]:
    """The pair, normalised to {"prompt", "chosen", "rejected"}; DataError naming line `n` (1-based) otherwise."""
    where = f"pair {n}"
    if not isinstance(item, dict):
        raise DataError(f"{where}: must be an object with prompt, chosen and rejected")
    prompt = item.get("prompt")
    if not isinstance(prompt, list) or not prompt:
        raise DataError(f"{where}: prompt must be a non-empty list of messages")
    for message in prompt:
        if (
            not isinstance(message, dict)
            or message.get("role") not in PROMPT_ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise DataError(f"{where}: every prompt message needs a role (system, user, assistant) and text content")
    if prompt[-1]["role"] != "user":
        raise DataError(f"{where}: the prompt must end with a user message")
    answers = {}
    for key in ("chosen", "rejected"):
        value = item.get(key)
        if (
            not isinstance(value, list)
            or len(value) != 1
            or not isinstance(value[0], dict)
            or value[0].get("role") != "assistant"
            or not isinstance(value[0].get("content"), str)
            or not value[0]["content"].strip()
        ):
            raise DataError(f"{where}: {key} must be a list with one assistant message with text")
        answers[key] = [{"role": "assistant", "content": value[0]["content"]}]
    if answers["chosen"][0]["content"] == answers["rejected"][0]["content"]:
        raise DataError(f"{where}: chosen and rejected are the same answer")
    messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
    return {"prompt": messages, **answers}


def load_pairs(source: str | Path | Iterable[Any], system_prompt: str = "") -> list[dict[str, Any]]:
    """Pairs from a JSONL path or an iterable of dicts, checked; the project's default system prompt goes first
    in every prompt without a system turn (as for the conversations SFT trains on, see data.load_conversations)."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"Preference file not found: {path}")
        items: list[Any] = []
        with path.open(encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        items.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path.name} line {n}: invalid JSON ({exc.msg})") from exc
    else:
        items = list(source)
    pairs = [check_pair(item, n) for n, item in enumerate(items, 1)]
    if system_prompt:
        for pair in pairs:
            if pair["prompt"][0]["role"] != "system":
                pair["prompt"].insert(0, {"role": "system", "content": system_prompt})
    return pairs
