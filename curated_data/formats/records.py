"""Record shapes to one conversation (`Record`), with the file's own field names kept for error reports.

Record shapes (one JSON object per line, per array item, or per CSV row):
- messages: {"messages": [{"role", "content"}], "category"?, "style_tags"?, "context"?}
- alpaca:   {"instruction", "input"?, "output", "system"?, "history"?: [[user, assistant], ...], ...}
- sharegpt: {"conversations": [{"from": "human" | "gpt" | "system", "value"}], "system"?, ...}
- prompt:   {"prompt", "response"?, "system"?, ...}
- csv:      a header row and a column mapping (prompt, and optional response, system, category,
            tags, context, messages — a JSON list of turns for multi-turn conversations).

Prompts without answers: a conversation may end with the user's turn (messages, sharegpt, a prompt record
without "response", a CSV file without a response column). Such an example waits for its answer, which
"Draft all" asks the project's model for (annotation.services.draft_batches). Alpaca keeps its required
"output": a record that lacks it is far more often a broken row than a prompt."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .containers import DEPTH_REASON, too_deep
from .csv_escaping import csv_unescape
from .errors import RowInvalid

SCHEMAS = ("messages", "alpaca", "sharegpt", "prompt")
IMPORT_FORMATS = ("auto", "messages", "alpaca", "sharegpt", "prompt", "csv")
IMPORT_FORMAT_LABELS = {
    "auto": "Detect automatically",
    "messages": "Chat messages (JSONL or JSON array)",
    "alpaca": "Alpaca: instruction / input / output (JSONL or JSON array)",
    "sharegpt": "ShareGPT: conversations with from / value (JSONL or JSON array)",
    "prompt": "Prompts: prompt, with an optional response (JSONL or JSON array)",
    "csv": "CSV with a column mapping",
}
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "system": "system",
}


@dataclass
class Record:
    """One conversation as read from a file, before the shape checks of `clean_messages`."""

    line: int
    schema: str
    messages: Any
    category: Any = ""
    style_tags: Any = None
    context: Any = ""
    # Per turn: the field of the source record its role and content came from (for error reports); none
    # when the turns keep their own names.
    sources: list[dict[str, str]] = field(default_factory=list)
    container: str = "messages"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def detect_schema(value: dict[str, Any]) -> str | None:
    if "messages" in value:
        return "messages"
    if "conversations" in value:
        return "sharegpt"
    if "instruction" in value or "output" in value:
        return "alpaca"
    if "prompt" in value:
        return "prompt"
    return None


def _labels(value: dict[str, Any]) -> tuple[Any, Any, Any]:
    tags = value.get("style_tags", value.get("tags"))
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    category = value.get("category")
    return ("" if category is None else category), ([] if tags is None else tags), value.get("context") or ""


def _text(value: dict[str, Any], key: str, errors: list[tuple[str, str]], *, required: bool) -> str:
    if key not in value or value[key] is None:
        if required:
            errors.append((key, f'Missing field "{key}".'))
        return ""
    if not isinstance(value[key], str):
        errors.append((key, f'"{key}" must be text, not {_describe(value[key])}.'))
        return ""
    return value[key]


def record_from_messages(line: int, value: dict[str, Any]) -> Record:
    if "messages" not in value:
        raise RowInvalid([("messages", 'Missing field "messages" (a list of {"role", "content"} turns).')])
    turns = value["messages"]
    if not isinstance(turns, list):
        raise RowInvalid([("messages", f'"messages" must be a list of turns, not {_describe(turns)}.')])
    category, tags, context = _labels(value)
    # No sources: the turns keep their own field names (messages[2].content), as `source_field` gives.
    return Record(line, "messages", turns, category, tags, context, [], "messages")


def record_from_alpaca(line: int, value: dict[str, Any]) -> Record:
    errors: list[tuple[str, str]] = []
    instruction = _text(value, "instruction", errors, required=True)
    extra = _text(value, "input", errors, required=False)
    output = _text(value, "output", errors, required=True)
    if "output" not in value:  # say where prompts without answers go
        errors[-1] = ("output", 'Missing field "output". Prompts without answers import as {"prompt": "…"} records.')
    system = _text(value, "system", errors, required=False)
    history = value.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair) for pair in history
    ):
        errors.append(("history", '"history" must be a list of [user, assistant] text pairs.'))
        history = []
    if errors:
        raise RowInvalid(errors)
    turns, sources = [], []
    if system:
        turns.append({"role": "system", "content": system})
        sources.append({"role": "system", "content": "system"})
    for index, (question, answer) in enumerate(history):
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        sources += [
            {"role": f"history[{index}]", "content": f"history[{index}][0]"},
            {"role": f"history[{index}]", "content": f"history[{index}][1]"},
        ]
    prompt = f"{instruction}\n\n{extra}" if instruction and extra else (instruction or extra)
    turns += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    sources += [{"role": "instruction", "content": "instruction"}, {"role": "output", "content": "output"}]
    category, tags, context = _labels(value)
    return Record(line, "alpaca", turns, category, tags, context, sources, "instruction")


def record_from_sharegpt(line: int, value: dict[str, Any]) -> Record:
    if "conversations" not in value:
        raise RowInvalid([("conversations", 'Missing field "conversations" (a list of {"from", "value"} turns).')])
    conversation = value["conversations"]
    if not isinstance(conversation, list):
        raise RowInvalid([("conversations", f'"conversations" must be a list, not {_describe(conversation)}.')])
    errors: list[tuple[str, str]] = []
    turns, sources = [], []
    system = _text(value, "system", errors, required=False)
    if system:
        turns.append({"role": "system", "content": system})
        sources.append({"role": "system", "content": "system"})
    for index, turn in enumerate(conversation):
        where = f"conversations[{index}]"
        if not isinstance(turn, dict):
            errors.append((where, 'Each turn must be an object with "from" and "value".'))
            continue
        speaker = turn.get("from")
        role = SHAREGPT_ROLES.get(speaker) if isinstance(speaker, str) else None
        if role is None:
            if speaker is None:
                errors.append((f"{where}.from", 'Missing field "from".'))
            else:
                errors.append((f"{where}.from", f"Unknown speaker {speaker!r}; use human, gpt or system."))
        if "value" not in turn:
            errors.append((f"{where}.value", 'Missing field "value".'))
        turns.append({"role": role or speaker, "content": turn.get("value")})
        sources.append({"role": f"{where}.from", "content": f"{where}.value"})
    if errors:
        raise RowInvalid(errors)
    category, tags, context = _labels(value)
    return Record(line, "sharegpt", turns, category, tags, context, sources, "conversations")


def record_from_prompt(line: int, value: dict[str, Any]) -> Record:
    """A prompt, with or without its answer: without one, the conversation ends with the user's turn."""
    errors: list[tuple[str, str]] = []
    prompt = _text(value, "prompt", errors, required=True)
    system = _text(value, "system", errors, required=False)
    answered = value.get("response") is not None
    response = _text(value, "response", errors, required=False)
    if errors:
        raise RowInvalid(errors)
    turns, sources = [], []
    if system:
        turns.append({"role": "system", "content": system})
        sources.append({"role": "system", "content": "system"})
    turns.append({"role": "user", "content": prompt})
    sources.append({"role": "prompt", "content": "prompt"})
    if answered:
        turns.append({"role": "assistant", "content": response})
        sources.append({"role": "response", "content": "response"})
    category, tags, context = _labels(value)
    return Record(line, "prompt", turns, category, tags, context, sources, "prompt")


def record_from_csv(line: int, cells: dict[str, str]) -> Record:
    cells = {key: csv_unescape(cell) for key, cell in cells.items()}
    category = cells.get("category", "").strip()
    tags = [t.strip() for t in cells.get("tags", "").split(",") if t.strip()]
    context = cells.get("context", "")
    if cells.get("messages", "").strip():
        if too_deep(cells["messages"]):
            raise RowInvalid([("messages", f"The messages column: {DEPTH_REASON}")])
        try:
            turns = json.loads(cells["messages"])
        except json.JSONDecodeError as exc:
            raise RowInvalid([("messages", f"The messages column is not valid JSON: {exc.msg}.")]) from None
        if not isinstance(turns, list):
            raise RowInvalid([("messages", "The messages column must hold a JSON list of turns.")])
        sources = [{"role": f"messages[{i}].role", "content": f"messages[{i}].content"} for i in range(len(turns))]
        return Record(line, "csv", turns, category, tags, context, sources, "messages")
    turns, sources = [], []
    if cells.get("system", "").strip():
        turns.append({"role": "system", "content": cells["system"]})
        sources.append({"role": "system", "content": "system"})
    turns.append({"role": "user", "content": cells["prompt"]})
    sources.append({"role": "prompt", "content": "prompt"})
    if "response" in cells:  # no response column: prompts that wait for their answers
        turns.append({"role": "assistant", "content": cells["response"]})
        sources.append({"role": "response", "content": "response"})
    return Record(line, "csv", turns, category, tags, context, sources, "prompt")


CONVERTERS = {
    "messages": record_from_messages,
    "alpaca": record_from_alpaca,
    "sharegpt": record_from_sharegpt,
    "prompt": record_from_prompt,
}


def to_record(line: int, value: Any, schema: str) -> Record:
    """A record of the given schema ('auto': recognised from its fields); RowInvalid if it can't be."""
    if schema == "csv":
        return record_from_csv(line, value)
    if not isinstance(value, dict):
        raise RowInvalid([("", f"Each record must be a JSON object, not {_describe(value)}.")])
    if schema == "auto":
        detected = detect_schema(value)
        if detected is None:
            keys = ", ".join(sorted(map(str, value))[:8]) or "none"
            raise RowInvalid(
                [
                    (
                        "",
                        f"Unrecognised record (fields: {keys}); expected messages, conversations, "
                        "instruction/output or prompt.",
                    )
                ]
            )
        schema = detected
    return CONVERTERS[schema](line, value)


TURN_FIELD = re.compile(r"^messages\[(\d+)\]\.(role|content)$")


def source_field(record: Record, field_name: str) -> str:
    """Translate a field of the cleaned conversation (messages[2].content) to the file's own name."""
    match = TURN_FIELD.match(field_name)
    if match:
        index, kind = int(match.group(1)), match.group(2)
        if index < len(record.sources):
            return record.sources[index][kind]
    if field_name == "messages":
        return record.container
    return field_name
