"""Compressed uploads: gzip and zip (one member) are read as a stream under a size and a ratio cap;
other compressed files and archives are recognised by their magic bytes and refused with what to do."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, cast

from .errors import FileInvalid

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
