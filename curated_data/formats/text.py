"""Bytes to text: encoding sniffing and UTF-8 lines read under a length limit."""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from typing import IO

from .errors import FileInvalid, RowError

WHITESPACE = " \t\r\n"


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


def text_stream(data: bytes) -> IO[bytes]:
    """In-memory bytes as a binary stream (tests, small uploads)."""
    return io.BytesIO(data)
