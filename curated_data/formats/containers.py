"""Containers: JSON lines, one JSON array (decoded incrementally) and CSV rows, each value with its line."""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from .errors import FileInvalid, RowError
from .text import WHITESPACE, decode_line, iter_lines, sniff_encoding, too_long

CSV_FIELDS = ("prompt", "response", "system", "category", "tags", "context", "messages")
CSV_REQUIRED = ("prompt",)  # without a response column, the prompts wait for their answers
CSV_GUESSES = {
    "prompt": ("prompt", "instruction", "question", "input", "user", "query"),
    "response": ("response", "output", "answer", "completion", "assistant", "reply"),
    "system": ("system", "system_prompt", "system prompt"),
    "category": ("category", "label", "topic"),
    "tags": ("style_tags", "tags", "style tags"),
    "context": ("context", "passage", "document"),
    "messages": ("messages", "conversation"),
}
# A chat record nests 4 levels (record, messages, turn, text); alpaca history 4. Deeper JSON is refused
# with a located error instead of exhausting the parser's recursion.
MAX_JSON_DEPTH = 100
Item = tuple[int, Any, RowError | None]  # (line, value, error)
DEPTH_REASON = f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep (a chat record needs 4); flatten the record."
JSON_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests more than `limit` arrays / objects (strings skipped); stops at the first excess."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in JSON_TOKEN_RE.finditer(text):
        char = m.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def element(index: int, field_name: str = "") -> str:
    """The field of a JSON array's element in a report: [3], [3].messages[0].content."""
    if not field_name:
        return f"[{index}]"
    return f"[{index}]{field_name}" if field_name.startswith("[") else f"[{index}].{field_name}"


def iter_jsonl(stream: IO[bytes], *, max_line_bytes: int, progress=None) -> Iterator[Item]:
    """One JSON value per non-blank line."""
    for line, raw, done in iter_lines(stream, max_line_bytes=max_line_bytes):
        if progress is not None:
            progress(done)
        if raw is None:
            yield line, None, too_long(line, max_line_bytes)
            continue
        try:
            text = decode_line(raw, line)
        except FileInvalid as exc:  # one bad line, not the whole file: report it and read on
            yield line, None, RowError(line, "", exc.error.reason)
            continue
        if not text.strip(WHITESPACE):
            continue
        if too_deep(text):
            yield line, None, RowError(line, "", DEPTH_REASON)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line, None, RowError(line, "", f"Invalid JSON: {exc.msg} (column {exc.colno}).")
            continue
        except RecursionError:
            yield line, None, RowError(line, "", DEPTH_REASON)
            continue
        yield line, value, None


def iter_json_array(
    stream: IO[bytes], *, max_record_bytes: int, chunk_size: int = 1 << 20, progress=None
) -> Iterator[Item]:
    """The items of one top-level JSON array, decoded incrementally; structural errors stop the reading."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    state = {"buf": "", "pos": 0, "base_line": 1, "eof": False, "done": 0}

    def fill() -> bool:
        if state["eof"]:
            return False
        chunk = stream.read(chunk_size)
        state["done"] += len(chunk)
        if progress is not None:
            progress(state["done"])
        buf, pos = state["buf"], state["pos"]
        state["base_line"] += buf.count("\n", 0, pos)
        try:
            text = utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line = state["base_line"] + buf.count("\n", pos) + chunk[: exc.start].count(b"\n")
            raise FileInvalid(
                line,
                f"Not valid UTF-8: byte 0x{chunk[exc.start]:02X}. The file looks like Latin-1 / Windows-1252; "
                "save it as UTF-8 and upload it again.",
            ) from None
        state["buf"], state["pos"] = buf[pos:] + text, 0
        if not chunk:
            state["eof"] = True
        return True

    def line_at(pos: int) -> int:
        return state["base_line"] + state["buf"].count("\n", 0, pos)

    def skip_ws() -> str:
        """Skip whitespace; return the next character ('' at the end of the file)."""
        while True:
            buf, pos = state["buf"], state["pos"]
            while pos < len(buf) and buf[pos] in WHITESPACE:
                pos += 1
            state["pos"] = pos
            if pos < len(buf):
                return buf[pos]
            if not fill():
                return ""

    index = 0  # the element being read: every error of the array names it, as [index]
    try:
        if skip_ws() != "[":
            raise FileInvalid(line_at(state["pos"]), "A JSON file must hold one array of records: [ {...}, {...} ].")
        state["pos"] += 1
        expect_value = True
        first = True
        while True:
            char = skip_ws()
            if char == "":
                raise FileInvalid(
                    line_at(state["pos"]),
                    f"The file ends inside the array after {index} element(s): a closing ] is missing.",
                )
            if char == "]" and (first or not expect_value):
                state["pos"] += 1
                break
            if not expect_value:
                if char != ",":
                    raise FileInvalid(
                        line_at(state["pos"]),
                        f"Expected , or ] after element [{index - 1}], found {char!r}. Reading stopped here.",
                        element(index - 1),
                    )
                state["pos"] += 1
                expect_value = True
                continue
            if char == "]":
                raise FileInvalid(
                    line_at(state["pos"]), "A trailing comma before ] is not valid JSON.", element(index - 1)
                )
            while True:
                buf, pos = state["buf"], state["pos"]
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    # Cut off by the chunk's end (read on) or really broken (report it now)?
                    truncated = exc.pos >= len(buf) - 6 or exc.msg.startswith("Unterminated string")
                    if truncated and len(buf) - pos > max_record_bytes:
                        raise FileInvalid(
                            line_at(pos),
                            f"Element [{index}] is larger than the limit of {max_record_bytes:,} bytes.",
                            element(index),
                        ) from None
                    if truncated and fill():
                        continue
                    raise FileInvalid(
                        line_at(exc.pos),
                        f"Invalid JSON in element [{index}]: {exc.msg} (column {exc.colno}). Reading stopped here.",
                        element(index),
                    ) from None
                except RecursionError:
                    raise FileInvalid(
                        line_at(pos), f"Element [{index}]: {DEPTH_REASON} Reading stopped here.", element(index)
                    ) from None
                if end == len(buf) and not state["eof"] and fill():
                    continue  # a number or literal cut at the chunk's end: read on and decode again
                break
            line = line_at(pos)
            if end - pos > max_record_bytes:
                reason = f"This record is larger than the limit of {max_record_bytes:,} bytes."
                yield line, None, RowError(line, element(index), reason)
            else:
                yield line, value, None
            state["pos"] = end
            expect_value, first = False, False
            index += 1
        if skip_ws() != "":
            raise FileInvalid(line_at(state["pos"]), "Extra data after the closing ] of the array.")
    except FileInvalid as exc:
        yield exc.error.line, None, exc.error


def iter_csv(stream: IO[bytes], *, max_line_bytes: int, mapping: dict[str, str], progress=None) -> Iterator[Item]:
    """CSV rows as {field: cell} dicts after the header; mapping names the column of each field."""
    bad_lines: dict[int, RowError] = {}

    def text_lines() -> Iterator[str]:
        for line, raw, done in iter_lines(stream, max_line_bytes=max_line_bytes):
            if progress is not None:
                progress(done)
            if raw is None:
                bad_lines[line] = too_long(line, max_line_bytes)
                yield "\n"
                continue
            try:
                yield decode_line(raw, line)
            except FileInvalid as exc:
                bad_lines[line] = exc.error
                yield raw.decode("utf-8", errors="replace")

    reader = csv.reader(text_lines(), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield 1, None, RowError(1, "", f"The header row is not valid CSV: {exc}.", fatal=True)
        return
    if bad_lines:
        first = next(iter(bad_lines.values()))
        yield 1, None, RowError(first.line, first.field, first.reason, fatal=True)
        return
    if not header or not any(cell.strip() for cell in header):
        yield 1, None, RowError(1, "", "The file has no header row; the first row must name the columns.", fatal=True)
        return
    header = [cell.strip() for cell in header]
    columns: dict[str, int] = {}
    problems = []
    for key in CSV_FIELDS:
        column = (mapping.get(key) or "").strip()
        if not column:
            if key in CSV_REQUIRED:
                problems.append(RowError(1, key, f"Choose the column that holds the {key}.", fatal=True))
            continue
        if column not in header:
            problems.append(
                RowError(
                    1, key, f"Column {column!r} is not in the header; the columns are: {', '.join(header)}.", fatal=True
                )
            )
            continue
        columns[key] = header.index(column)
    if problems:
        for problem in problems:
            yield 1, None, problem
        return
    previous_end = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = previous_end + 1
            yield line, None, RowError(line, "", f"Not valid CSV: {exc}. Reading stopped here.", fatal=True)
            return
        start, previous_end = previous_end + 1, reader.line_num
        spanned = [bad_lines.pop(n) for n in range(start, previous_end + 1) if n in bad_lines]
        if spanned:
            yield start, None, spanned[0]
            continue
        if not cells or not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield (
                start,
                None,
                RowError(
                    start,
                    "",
                    f"This row has {len(cells)} field{'s' * (len(cells) != 1)}; the header has {len(header)}.",
                ),
            )
            continue
        yield start, {key: cells[index] for key, index in columns.items()}, None


def csv_header(stream: IO[bytes], *, max_line_bytes: int) -> list[str]:
    """The header row of a CSV file (for the mapping step); FileInvalid if it can't be read."""
    skip, _ = sniff_encoding(stream.read(4096))
    stream.seek(skip)
    for line, raw, _done in iter_lines(stream, max_line_bytes=max_line_bytes):
        if raw is None:
            raise FileInvalid(line, "The header line is too long.")
        cells = next(csv.reader([decode_line(raw, line)]), [])
        return [cell.strip() for cell in cells]
    raise FileInvalid(1, "The file is empty.")


def guess_csv_mapping(header: list[str]) -> dict[str, str]:
    lowered = {name.casefold(): name for name in header}
    mapping = {}
    for key, names in CSV_GUESSES.items():
        for name in names:
            if name in lowered:
                mapping[key] = lowered[name]
                break
    return mapping


def detect_container(head: str, filename: str) -> str:
    """'jsonl', 'json' or 'csv' from the first characters of the (decoded) file and its name."""
    stripped = head.lstrip(WHITESPACE)
    if not stripped:
        raise FileInvalid(1, "The file is empty.")
    if stripped[0] == "[":
        return "json"
    if stripped[0] == "{":
        return "jsonl"
    if filename.lower().endswith((".csv", ".tsv")) or "," in stripped.split("\n", 1)[0]:
        return "csv"
    raise FileInvalid(
        1, "Could not recognise the format: expected JSON lines, a JSON array or CSV. Choose the format explicitly."
    )
