"""Export files rendered in chunks from rows of (messages, category, style_tags, context).

CSV export guards against spreadsheet formula injection: every cell is quoted (so a line break or a
bare carriage return inside a cell never starts a new row, whatever line ending the reader expects),
rows end with CRLF (RFC 4180), and cells are escaped by `csv_escaping`. The other formats are written
unchanged."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from .csv_escaping import csv_escape

# name: (file extension, content type, label)
EXPORT_FORMATS = {
    "messages": ("jsonl", "application/jsonl", "Chat messages JSONL (TRL, OpenAI, Hugging Face datasets)"),
    "alpaca": ("jsonl", "application/jsonl", "Alpaca JSONL (instruction / input / output / history)"),
    "sharegpt": ("jsonl", "application/jsonl", "ShareGPT JSONL (conversations with from / value)"),
    "csv": ("csv", "text/csv", "CSV (system, prompt, response, …)"),
    "json": ("json", "application/json", "JSON array of chat-messages records"),
}
CSV_EXPORT_HEADER = ("system", "prompt", "response", "category", "style_tags", "context", "messages")
SHAREGPT_NAMES = {"user": "human", "assistant": "gpt", "system": "system"}


def _last_pair(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]], str, str]:
    """(system, earlier turns, last user text, its answer) of a conversation."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    turns = messages[1:] if system or (messages and messages[0]["role"] == "system") else list(messages)
    if turns and turns[-1]["role"] == "assistant" and len(turns) >= 2:
        return system, turns[:-2], turns[-2]["content"], turns[-1]["content"]
    if turns and turns[-1]["role"] == "user":
        return system, turns[:-1], turns[-1]["content"], ""
    return system, turns, "", ""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def messages_line_from_json(messages_json: str, category: str, tags_json: str, context: str) -> str:
    """A chat-messages line built from the database's own JSON text (no parse, no re-encode)."""
    return (
        f'{{"messages": {messages_json}, "category": {_dumps(category)}, '
        f'"style_tags": {tags_json}, "context": {_dumps(context)}}}'
    )


def messages_record(messages, category, style_tags, context) -> dict[str, Any]:
    return {"messages": messages, "category": category, "style_tags": style_tags, "context": context}


def alpaca_record(messages, category, style_tags, context) -> dict[str, Any]:
    system, earlier, prompt, answer = _last_pair(messages)
    history = [[earlier[i]["content"], earlier[i + 1]["content"]] for i in range(0, len(earlier) - 1, 2)]
    return {
        "instruction": prompt,
        "input": "",
        "output": answer,
        "system": system,
        "history": history,
        "category": category,
        "style_tags": style_tags,
        "context": context,
    }


def sharegpt_record(messages, category, style_tags, context) -> dict[str, Any]:
    return {
        "conversations": [{"from": SHAREGPT_NAMES[m["role"]], "value": m["content"]} for m in messages],
        "category": category,
        "style_tags": style_tags,
        "context": context,
    }


def csv_cells(messages, category, style_tags, context) -> list[str]:
    system, earlier, prompt, answer = _last_pair(messages)
    full = _dumps(messages) if earlier else ""
    return [csv_escape(c) for c in (system, prompt, answer, category, ", ".join(style_tags), context, full)]


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def render(
    fmt: str, rows: Iterable, *, raw_json: bool = False, prebuilt: bool = False, flush_bytes: int = 1 << 16
) -> Iterator[str]:
    """Chunks of the export file for rows of (messages, category, style_tags, context).

    With raw_json, messages and style_tags arrive as JSON text; with prebuilt, each row is the
    record's whole JSON text (messages and json formats only).
    """
    buffer: list[str] = []
    size = 0

    def lines() -> Iterator[str]:
        if fmt in ("messages", "json"):
            first = True
            if fmt == "json":
                yield "["
            for row in rows:
                if prebuilt:
                    line = row  # the whole record, built by the database
                elif raw_json:
                    line = messages_line_from_json(*row)
                else:
                    line = _dumps(messages_record(*row))
                if fmt == "json":
                    line = ("\n" if first else ",\n") + line
                    first = False
                else:
                    line += "\n"
                yield line
            if fmt == "json":
                yield "\n]\n"
        elif fmt in ("alpaca", "sharegpt"):
            build = alpaca_record if fmt == "alpaca" else sharegpt_record
            for row in rows:
                yield _dumps(build(*row)) + "\n"
        elif fmt == "csv":
            sink = _Line()
            writer = csv.writer(sink, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(CSV_EXPORT_HEADER)
            yield sink.take()
            for row in rows:
                writer.writerow(csv_cells(*row))
                yield sink.take()
        else:
            raise ValueError(f"unknown export format {fmt!r}")

    for piece in lines():
        buffer.append(piece)
        size += len(piece)
        if size >= flush_bytes:
            yield "".join(buffer)
            buffer.clear()
            size = 0
    if buffer:
        yield "".join(buffer)
