"""Folders of files in artifact storage (Django's storage API): list, copy in and out, delete, zip.

Adapters and merged models are folders (PEFT or transformers layout). Workers need them as local
folders: with the file-system storage that is the storage path itself; with any other backend the
files are copied into a worker-local cache once.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

CHUNK = 1024 * 1024


def list_files(prefix: str) -> list[str]:
    """Paths (relative to `prefix`, posix) of every file under a storage folder, sorted."""
    found: list[str] = []

    def walk(folder: str, relative: str) -> None:
        try:
            dirs, files = default_storage.listdir(folder)
        except FileNotFoundError:
            return
        found.extend(f"{relative}{name}" for name in files)
        for sub in dirs:
            walk(f"{folder}/{sub}", f"{relative}{sub}/")

    walk(prefix.rstrip("/"), "")
    return sorted(found)


def local_folder(prefix: str) -> Path:
    """A local folder holding the storage folder's files (the storage path itself when it is local)."""
    try:
        return Path(default_storage.path(prefix))
    except NotImplementedError:
        pass
    cache = Path(settings.VAR_DIR) / "cache" / "storage" / hashlib.sha256(prefix.encode()).hexdigest()[:24]
    for relative in list_files(prefix):
        target = cache / relative
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(f"{prefix}/{relative}", "rb") as source, open(target, "wb") as out:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                out.write(chunk)
    return cache


def save_folder(source: Path, prefix: str) -> int:
    """Copy a local folder's files under a storage prefix; returns the bytes written."""
    size = 0
    for path in sorted(p for p in Path(source).rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        with open(path, "rb") as handle:
            default_storage.save(f"{prefix}/{relative}", File(handle))
        size += path.stat().st_size
    return size


def delete_folder(prefix: str) -> int:
    """Remove every file under the storage folder (and, on local storage, the emptied folders)."""
    files = list_files(prefix)
    for relative in files:
        default_storage.delete(f"{prefix}/{relative}")
    try:
        root = Path(default_storage.path(prefix))
    except NotImplementedError:
        return len(files)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        folder.rmdir()
    if root.is_dir():
        root.rmdir()
    return len(files)


def read_text(prefix: str, name: str) -> str | None:
    path = f"{prefix}/{name}"
    if not default_storage.exists(path):
        return None
    with default_storage.open(path, "rb") as handle:
        return handle.read().decode("utf-8", errors="replace")


class _Sink:
    """A write-only, unseekable file for ZipFile that hands its bytes to a generator."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def zip_stream(prefix: str, root: str, extra: dict[str, bytes] | None = None) -> Iterator[bytes]:
    """Yield a zip of the storage folder, chunk by chunk, files under `root/` (nothing held in memory).

    `extra` adds files that are not in storage (e.g. a model card kept only on the row).
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for relative in list_files(prefix):
            with default_storage.open(f"{prefix}/{relative}", "rb") as source:
                with archive.open(f"{root}/{relative}", "w") as target:
                    for chunk in iter(lambda: source.read(CHUNK), b""):
                        target.write(chunk)
                        yield sink.drain()
            yield sink.drain()
        for name, data in (extra or {}).items():
            archive.writestr(f"{root}/{name}", data)
    yield sink.drain()
