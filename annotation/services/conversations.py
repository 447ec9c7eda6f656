"""Shape checks for a conversation: what any stored example must satisfy.

These are hard rules (the row would be unusable for training otherwise); the softer quality checks
live in the pure `validators` package and produce findings instead of refusals.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from annotune.errors import ApplicationError
from validators import content_hash, normalised_text  # noqa: F401 - the one hashing algorithm, re-exported

ROLES = ("system", "user", "assistant")
TURN_FIELDS = frozenset({"role", "content"})


def clean_messages(
    raw: Any, *, require_complete: bool = False, max_messages: int | None = None, max_chars: int | None = None
) -> list[dict[str, str]]:
    """Validate a list of {"role", "content"} turns; raise ApplicationError naming each bad field.

    Rules: at least one user turn; a system turn only first; then user and assistant alternate,
    starting with user. `require_complete` (submission) also demands a final assistant turn.
    `max_messages` / `max_chars`: the settings' limits unless given (an import reads them once, not per row).
    """
    max_messages = settings.ANNOTUNE_MAX_MESSAGES if max_messages is None else max_messages
    max_chars = settings.ANNOTUNE_MAX_MESSAGE_CHARS if max_chars is None else max_chars
    if not isinstance(raw, list):
        raise ApplicationError(
            "messages must be a list of turns.", {"messages": ['Send a list like [{"role": "user", "content": "…"}].']}
        )
    if not raw:
        raise ApplicationError("A conversation needs at least one turn.", {"messages": ["Add a user turn."]})
    if len(raw) > max_messages:
        raise ApplicationError(
            f"Too many turns: {len(raw)} (the limit is {max_messages}).",
            {"messages": [f"Keep at most {max_messages} turns."]},
        )
    errors: dict[str, list[str]] = {}
    cleaned: list[dict[str, str]] = []
    # Field names are formatted only for a turn with a problem: imports clean every row of a file.
    for index, turn in enumerate(raw):
        if not isinstance(turn, dict):
            errors[f"messages[{index}]"] = ['Each turn must be an object with "role" and "content".']
            continue
        if not turn.keys() <= TURN_FIELDS:
            unknown = sorted(set(turn) - TURN_FIELDS)
            errors[f"messages[{index}]"] = [f"Unknown field(s) {unknown}; a turn has only role and content."]
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            errors[f"messages[{index}].role"] = [f"Unknown role {role!r}; use one of {', '.join(ROLES)}."]
        if not isinstance(content, str):
            errors[f"messages[{index}].content"] = ["Content must be text."]
            continue
        if "\x00" in content:
            errors[f"messages[{index}].content"] = ["This turn contains a NUL character; remove it."]
        elif not content or content.isspace():
            errors[f"messages[{index}].content"] = ["This turn is empty; write its text or remove the turn."]
        elif len(content) > max_chars:
            errors[f"messages[{index}].content"] = [
                f"This turn has {len(content):,} characters; the limit is {max_chars:,}. Shorten it."
            ]
        cleaned.append({"role": role, "content": content})
    if errors:
        raise ApplicationError("Some turns are invalid: see the errors for each turn.", errors)
    _check_order(cleaned, require_complete=require_complete)
    return cleaned


def _check_order(messages: list[dict[str, str]], *, require_complete: bool) -> None:
    turns = messages
    if turns[0]["role"] == "system":
        turns = turns[1:]
    for index, turn in enumerate(messages):
        if turn["role"] == "system" and index != 0:
            raise ApplicationError(
                "A system turn may only come first.",
                {f"messages[{index}].role": ["Move the system instructions to the first turn."]},
            )
    offset = len(messages) - len(turns)
    if not turns:
        raise ApplicationError("A conversation needs a user turn.", {"messages": ["Add a user turn."]})
    for index, turn in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if turn["role"] != expected:
            raise ApplicationError(
                f"Wrong role order: turn {index + offset + 1} is {turn['role']!r} but should be {expected!r}. "
                "User and assistant turns alternate, starting with the user.",
                {f"messages[{index + offset}].role": [f"Expected {expected!r} here."]},
            )
    if require_complete and turns[-1]["role"] != "assistant":
        raise ApplicationError(
            "The conversation must end with an assistant turn before it can be submitted.",
            {"messages": ["Add the assistant's answer."]},
        )


def search_text(messages: list[dict[str, str]], context: str = "") -> str:
    return (" ".join(m["content"] for m in messages) + " " + context).casefold()[:20_000]


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
