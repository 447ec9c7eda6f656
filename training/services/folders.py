"""Folders of files in artifact storage (Django's storage API): list, copy in and out, delete, zip.

Adapters and merged models are folders (PEFT or transformers layout). Workers need them as local
folders: with the file-system storage that is the storage path itself; with any other backend (S3) the
files are copied once into a worker-local cache (settings.ARTIFACT_CACHE_DIR). A folder's files never
change once its row exists (every job, merge and combination writes under a new prefix), so a cached
copy stays valid until the folder is deleted.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from annotune.storage import ArtifactWriter, copy_to_local, open_stream

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


def cache_path(prefix: str) -> Path:
    """Where this machine keeps its copy of a storage folder (readable name, hash against collisions)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", prefix.strip("/"))[-80:]
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:12]
    return Path(settings.ARTIFACT_CACHE_DIR) / f"{readable}-{digest}"


def local_folder(prefix: str) -> Path:
    """A local folder holding the storage folder's files (the storage path itself when it is local).

    Other storages: the files are copied into a temporary folder next to the cache entry, which is then
    renamed into place, so a crash mid-copy never leaves a cache entry with missing or partial files, and
    two processes fetching the same folder both end with one whole copy.
    """
    try:
        return Path(default_storage.path(prefix))
    except NotImplementedError:
        pass
    cache = cache_path(prefix)
    if cache.is_dir():
        return cache
    files = list_files(prefix)
    if not files:
        raise FileNotFoundError(f"No files under {prefix!r} in the artifact storage.")
    staging = cache.with_name(f".{cache.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        for relative in files:
            copy_to_local(f"{prefix}/{relative}", staging / relative)
        try:
            staging.rename(cache)
        except OSError:
            if not cache.is_dir():  # lost the race to another process: its copy is as good
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cache


def save_folder(source: Path, prefix: str, writer: ArtifactWriter | None = None) -> int:
    """Copy a local folder's files under a storage prefix; returns the bytes written.

    All or nothing: a failed write deletes the files already copied (StorageError says why). Pass the
    caller's `writer` to also delete them when what follows (creating the row) fails.
    """
    own = writer is None
    writer = writer or ArtifactWriter(f"the files under {prefix}")
    size = 0
    try:
        for path in sorted(p for p in Path(source).rglob("*") if p.is_file()):
            relative = path.relative_to(source).as_posix()
            with open(path, "rb") as handle:
                writer.save(f"{prefix}/{relative}", File(handle))
            size += path.stat().st_size
    except BaseException:
        if own:
            writer.discard()
        raise
    return size


def delete_folder(prefix: str) -> int:
    """Remove every file under the storage folder (and, on local storage, the emptied folders).

    With object storage this machine's cached copy goes too; other machines' copies are never read
    again (no row names the prefix any more).
    """
    files = list_files(prefix)
    for relative in files:
        default_storage.delete(f"{prefix}/{relative}")
    try:
        root = Path(default_storage.path(prefix))
    except NotImplementedError:
        shutil.rmtree(cache_path(prefix), ignore_errors=True)
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
    with open_stream(path) as handle:
        return handle.read().decode("utf-8", errors="replace")


def file_stream(prefix: str, name: str) -> Iterator[bytes]:
    """Yield one stored file chunk by chunk (a GGUF file can be gigabytes: nothing held in memory)."""
    with default_storage.open(f"{prefix}/{name}", "rb") as source:
        yield from iter(lambda: source.read(CHUNK), b"")


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

    `extra` adds files that are not in storage (e.g. a model card kept only on the row), or replaces
    those of the same name.
    """
    sink = _Sink()
    extra = extra or {}
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for relative in list_files(prefix):
            if relative in extra:
                continue
            with open_stream(f"{prefix}/{relative}") as source:
                with archive.open(f"{root}/{relative}", "w") as target:
                    for chunk in iter(lambda: source.read(CHUNK), b""):
                        target.write(chunk)
                        yield sink.drain()
            yield sink.drain()
        for name, data in extra.items():
            archive.writestr(f"{root}/{name}", data)
    yield sink.drain()
