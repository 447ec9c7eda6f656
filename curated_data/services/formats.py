"""Every dataset file format, parsed and rendered by pure functions (no Django, no database).

Reading is streamed: files are read line by line (JSONL, CSV) or chunk by chunk (JSON arrays, with
`json.JSONDecoder.raw_decode`), never whole. Each problem becomes a `RowError(line, field, reason)`.

Record shapes (one JSON object per line, per array item, or per CSV row):
- messages: {"messages": [{"role", "content"}], "category"?, "style_tags"?, "context"?}
- alpaca:   {"instruction", "input"?, "output", "system"?, "history"?: [[user, assistant], ...], ...}
- sharegpt: {"conversations": [{"from": "human" | "gpt" | "system", "value"}], "system"?, ...}
- csv:      a header row and a column mapping (prompt, response, and optional system, category,
            tags, context, messages — a JSON list of turns for multi-turn conversations).

CSV export guards against spreadsheet formula injection (OWASP "CSV injection"): every cell is quoted
(so a line break or a bare carriage return inside a cell never starts a new row, whatever line ending
the reader expects), rows end with CRLF (RFC 4180), and every line of a cell that starts with
= + - @, a tab or a carriage return gets a leading single quote, so a spreadsheet shows it as text
instead of running it: the first line of the cell and each line after a line break inside it. The CSV
import removes those quotes again, so export then import gives back the same text. The other formats
are written unchanged.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

SCHEMAS = ("messages", "alpaca", "sharegpt")
IMPORT_FORMATS = ("auto", "messages", "alpaca", "sharegpt", "csv")
IMPORT_FORMAT_LABELS = {
    "auto": "Detect automatically",
    "messages": "Chat messages (JSONL or JSON array)",
    "alpaca": "Alpaca: instruction / input / output (JSONL or JSON array)",
    "sharegpt": "ShareGPT: conversations with from / value (JSONL or JSON array)",
    "csv": "CSV with a column mapping",
}
# name: (file extension, content type, label)
EXPORT_FORMATS = {
    "messages": ("jsonl", "application/jsonl", "Chat messages JSONL (TRL, OpenAI, Hugging Face datasets)"),
    "alpaca": ("jsonl", "application/jsonl", "Alpaca JSONL (instruction / input / output / history)"),
    "sharegpt": ("jsonl", "application/jsonl", "ShareGPT JSONL (conversations with from / value)"),
    "csv": ("csv", "text/csv", "CSV (system, prompt, response, …)"),
    "json": ("json", "application/json", "JSON array of chat-messages records"),
}
CSV_FIELDS = ("prompt", "response", "system", "category", "tags", "context", "messages")
CSV_REQUIRED = ("prompt", "response")
CSV_GUESSES = {
    "prompt": ("prompt", "instruction", "question", "input", "user", "query"),
    "response": ("response", "output", "answer", "completion", "assistant", "reply"),
    "system": ("system", "system_prompt", "system prompt"),
    "category": ("category", "label", "topic"),
    "tags": ("style_tags", "tags", "style tags"),
    "context": ("context", "passage", "document"),
    "messages": ("messages", "conversation"),
}
CSV_EXPORT_HEADER = ("system", "prompt", "response", "category", "style_tags", "context", "messages")
# A line of a cell a spreadsheet would run as a formula, or one already escaped as such (quotes before
# the sign): the export adds one quote to these, the import removes one. A line starts at the start of
# the cell and after each \n, \r\n or lone \r. Round trips are exact both ways.
CSV_FORMULA = re.compile(r"'*[=+\-@\t\r]")
CSV_FORMULA_FIRST = frozenset("=+-@\t\r'")
CSV_LINE_START = r"(?:^|(?<=\n)|(?<=\r)(?!\n))"
CSV_ESCAPE_AT = re.compile(CSV_LINE_START + r"(?='*[=+\-@\t\r])")
CSV_UNESCAPE_AT = re.compile(CSV_LINE_START + r"'(?='*[=+\-@\t\r])")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "system": "system",
}
SHAREGPT_NAMES = {"user": "human", "assistant": "gpt", "system": "system"}
WHITESPACE = " \t\r\n"
# A chat record nests 4 levels (record, messages, turn, text); alpaca history 4. Deeper JSON is refused
# with a located error instead of exhausting the parser's recursion.
MAX_JSON_DEPTH = 100


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str
    fatal: bool = False  # the file could not be read on from here: nothing is imported, even skipping

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class RowInvalid(Exception):
    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(reason for _, reason in errors))
        self.errors = errors


class FileInvalid(Exception):
    """A problem with the file as a whole (encoding, structure): reading stops here."""

    def __init__(self, line: int, reason: str, field: str = ""):
        super().__init__(reason)
        self.error = RowError(line, field, reason, fatal=True)


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


# --- bytes and text ----------------------------------------------------------------------------


def sniff_encoding(head: bytes) -> tuple[int, str]:
    """How many leading bytes to skip (a UTF-8 BOM) and a note; FileInvalid for other encodings."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise FileInvalid(1, "The file is UTF-32 (it starts with a UTF-32 byte order mark). Save it as UTF-8.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileInvalid(
            1, "The file is UTF-16 (it starts with a UTF-16 byte order mark). Save it as UTF-8 and upload it again."
        )
    if head.startswith(codecs.BOM_UTF8):
        return 3, "The file starts with a UTF-8 byte order mark; it was skipped."
    sample = head[:4096]
    if b"\x00" in sample:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if max(even, odd) > len(sample) // 4:
            raise FileInvalid(
                1, "The file looks like UTF-16 without a byte order mark (every other byte is NUL). Save it as UTF-8."
            )
        raise FileInvalid(1, "The file contains NUL bytes: it looks binary, not text. Upload a UTF-8 text file.")
    return 0, ""


# --- compressed files and archives ---------------------------------------------------------------

# (magic bytes at offset 0, kind). Recognised by content, never by the file name.
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip
    (b"PK\x07\x08", "zip"),  # a spanned zip
    (b"\xfd7zXZ\x00", "xz"),
    (b"(\xb5/\xfd", "zstd"),
    (b"7z\xbc\xaf'\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b'\x04"M\x18', "lz4"),
)
COMPRESSION_LABELS = {
    "gzip": "gzip file",
    "zip": "zip archive",
    "bzip2": "bzip2 file",
    "xz": "xz file",
    "zstd": "Zstandard file",
    "7z": "7-Zip archive",
    "rar": "RAR archive",
    "lz4": "LZ4 file",
    "tar": "tar archive",
}
READABLE_COMPRESSION = ("gzip", "zip")
COMPRESSED_SUFFIXES = (".gz", ".gzip")
ARCHIVE_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db")


def compression_of(head: bytes) -> str | None:
    """The kind of compressed file or archive `head` (the first 512 bytes or more) starts, None for plain data."""
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def _unsupported(kind: str, inside: str = "") -> FileInvalid:
    where = f"The file inside the {inside} is" if inside else "The file is"
    return FileInvalid(
        1,
        f"{where} a {COMPRESSION_LABELS[kind]}, which imports do not read. Upload the JSONL, JSON or CSV file "
        "itself, or compressed on its own as .gz or .zip.",
    )


class CappedReader:
    """A decompressing stream that stops at a size and a ratio cap (a zip or gzip bomb is refused early).

    Reading is streamed: memory stays at the reader's buffers whatever the decompressed size. A damaged
    or truncated compressed file becomes a `FileInvalid` (line 0: the caller knows the line).
    """

    def __init__(self, inner: IO[bytes], raw: IO[bytes], *, label: str, compressed_size: int, max_bytes: int,
                 max_ratio: int, ratio_floor: int = 1 << 20) -> None:  # fmt: skip
        self.inner, self.raw, self.label = inner, raw, label
        self.compressed_size = max(compressed_size, 1)
        self.max_bytes = max_bytes
        self.limit = min(max_bytes, max(ratio_floor, max_ratio * self.compressed_size))
        self.max_ratio = max_ratio
        self.position = 0

    def _guard(self, call: Callable[[], bytes]) -> bytes:
        try:
            data = call()
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError) as exc:
            raise FileInvalid(
                0,
                f"The {self.label} is damaged or cut off ({exc or type(exc).__name__}); create it again and upload it.",
            ) from None
        self.position += len(data)
        if self.position > self.limit:
            if self.position > self.max_bytes:
                reason = f"it decompresses to more than the limit of {self.max_bytes:,} bytes"
            else:
                reason = (
                    f"it decompresses to more than {self.max_ratio} times its size of {self.compressed_size:,} bytes"
                )
            raise FileInvalid(
                0, f"The {self.label} was refused: {reason} (a compression bomb, or a file to split into smaller ones)."
            )
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:  # bounded even when asked for everything: one byte over the cap is enough
            size = self.limit + 1 - self.position
        return self._guard(lambda: self.inner.read(max(size, 0)))

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.limit + 1 - self.position
        return self._guard(lambda: self.inner.readline(max(size, 0)))

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise io.UnsupportedOperation("only absolute seeks")
        try:
            self.position = self.inner.seek(offset)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise FileInvalid(0, f"The {self.label} is damaged or cut off ({exc}).") from None
        return self.position

    def tell(self) -> int:
        return self.position

    def compressed_done(self) -> int:
        """Bytes of the uploaded file read so far (for a progress bar sized by the upload)."""
        try:
            return min(self.raw.tell(), self.compressed_size)
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self.inner.close()


@dataclass
class Opened:
    """An upload ready to read: the (decompressed) data, the name to detect its container by, and how
    it was compressed ('' for plain files)."""

    stream: IO[bytes]
    name: str
    compression: str = ""
    reader: CappedReader | None = None

    def progress(self, done: int) -> int:
        """Bytes of the upload behind `done` bytes of data."""
        return self.reader.compressed_done() if self.reader is not None else done


def _zip_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [
        info
        for info in archive.infolist()
        if not info.is_dir() and not any(part in info.filename for part in ARCHIVE_JUNK)
        and not info.filename.rsplit("/", 1)[-1].startswith("._")
    ]  # fmt: skip
    if not members:
        raise FileInvalid(1, "The zip archive holds no file. Zip the JSONL, JSON or CSV file and upload it again.")
    if len(members) > 1:
        names = ", ".join(info.filename for info in members[:5]) + (", …" if len(members) > 5 else "")
        raise FileInvalid(
            1,
            f"The zip archive holds {len(members)} files ({names}); zip one file per import, "
            "or upload them one by one.",
        )
    member = members[0]
    if member.flag_bits & 0x1:
        raise FileInvalid(1, f"{member.filename!r} in the zip archive is encrypted; zip it without a password.")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        raise FileInvalid(
            1, f"{member.filename!r} uses a zip compression method ({member.compress_type}) imports cannot read; "
            "zip it again with the standard (deflate) method.",
        )  # fmt: skip
    return member


def open_data(raw: IO[bytes], name: str, *, size: int, max_bytes: int, max_ratio: int) -> Opened:
    """The upload as plain data: gzip and zip (one member) are decompressed as a stream under a size and a
    ratio cap; other compressed files and archives raise FileInvalid with what to do instead."""
    head = raw.read(512)
    raw.seek(0)
    kind = compression_of(head)
    if kind is None:
        return Opened(raw, name)
    if kind not in READABLE_COMPRESSION:
        raise _unsupported(kind)
    inner: IO[bytes]
    if kind == "gzip":
        inner = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
        lowered = name.lower()
        inner_name = name[: -len(next(s for s in COMPRESSED_SUFFIXES if lowered.endswith(s)))] if lowered.endswith(
            COMPRESSED_SUFFIXES) else name  # fmt: skip
        compressed = size
    else:
        try:
            archive = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise FileInvalid(1, f"The zip archive is damaged ({exc}); create it again and upload it.") from None
        member = _zip_member(archive)
        inner = archive.open(member)
        inner_name = member.filename.rsplit("/", 1)[-1]
        compressed = member.compress_size or size
    label = COMPRESSION_LABELS[kind]
    reader = CappedReader(inner, raw, label=label, compressed_size=compressed, max_bytes=max_bytes, max_ratio=max_ratio)
    try:
        inside = compression_of(reader.read(512))
        reader.seek(0)
    except FileInvalid as exc:
        raise FileInvalid(1, exc.error.reason) from None
    if inside is not None:
        raise _unsupported(inside, label)
    return Opened(cast(IO[bytes], reader), inner_name, kind, reader)


def decode_line(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start]
        raise FileInvalid(
            line,
            f"Not valid UTF-8: byte 0x{byte:02X} at position {exc.start + 1} of the line. The file looks like "
            "Latin-1 / Windows-1252; save it as UTF-8 and upload it again.",
        ) from None


def iter_lines(stream: IO[bytes], *, max_line_bytes: int) -> Iterator[tuple[int, bytes | None, int]]:
    """Yield (line number, raw line with its newline, bytes read so far); None for a line over the limit.

    A line over the limit is skipped in 1 MiB pieces and never held in memory.
    """
    line_no, done = 0, 0
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        line_no += 1
        done += len(raw)
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while True:
                more = stream.readline(1 << 20)
                done += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield line_no, None, done
            continue
        yield line_no, raw, done


def too_long(line: int, max_bytes: int) -> RowError:
    return RowError(line, "", f"This line is longer than the limit of {max_bytes:,} bytes; split or shorten it.")


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


# --- containers: JSON lines, JSON array, CSV ------------------------------------------------------

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


def detect_schema(value: dict[str, Any]) -> str | None:
    if "messages" in value:
        return "messages"
    if "conversations" in value:
        return "sharegpt"
    if "instruction" in value or "output" in value:
        return "alpaca"
    return None


# --- record shapes -> conversation --------------------------------------------------------------


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


def csv_unescape(cell: str) -> str:
    """A CSV cell without the quotes `csv_escape` added (lines that were not escaped stay as they are)."""
    if "\n" not in cell and "\r" not in cell:  # one line (most cells): only its start
        return cell[1:] if cell[:1] == "'" and CSV_FORMULA.match(cell, 1) else cell
    return CSV_UNESCAPE_AT.sub("", cell) if "'" in cell else cell


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
    turns += [{"role": "user", "content": cells["prompt"]}, {"role": "assistant", "content": cells["response"]}]
    sources += [{"role": "prompt", "content": "prompt"}, {"role": "response", "content": "response"}]
    return Record(line, "csv", turns, category, tags, context, sources, "prompt")


CONVERTERS = {"messages": record_from_messages, "alpaca": record_from_alpaca, "sharegpt": record_from_sharegpt}


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
                [("", f"Unrecognised record (fields: {keys}); expected messages, conversations or instruction/output.")]
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


# --- rendering -----------------------------------------------------------------------------------


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


def csv_escape(cell: str) -> str:
    """The cell with a single quote before each of its lines a spreadsheet would run as a formula (OWASP)."""
    if "\n" not in cell and "\r" not in cell:  # one line (most cells): only its start
        return "'" + cell if cell[:1] in CSV_FORMULA_FIRST and CSV_FORMULA.match(cell) else cell
    return CSV_ESCAPE_AT.sub("'", cell)


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


def text_stream(data: bytes) -> IO[bytes]:
    """In-memory bytes as a binary stream (tests, small uploads)."""
    return io.BytesIO(data)
