"""Writing artifacts (dataset versions, adapters, uploads) all-or-nothing through Django's storage API,
and reading them back as streams.

A full or read-only artifact volume (or a bucket refusing writes) must not leave half an artifact
behind: `ArtifactWriter` remembers every file it saved and deletes them all when the operation fails,
and turns the storage's error into a `StorageError` that says why. `open_stream` reads a file front to
back without a local copy first (object storage streams the HTTP body), for downloads and for copies
onto a worker's disk (`copy_to_local`).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage, default_storage
from rest_framework import status

from .errors import ApplicationError

log = logging.getLogger(__name__)

REASONS = {
    errno.ENOSPC: "the artifact storage is full (no space left on device)",
    errno.EDQUOT: "the artifact storage quota is exceeded",
    errno.EROFS: "the artifact storage is read-only",
    errno.EACCES: "the artifact storage refused the write (permission denied)",
    errno.EPERM: "the artifact storage refused the write (operation not permitted)",
}


class StorageError(ApplicationError):
    """The artifact storage could not take a file; nothing of the operation was kept."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


def storage_failures() -> tuple[type[BaseException], ...]:
    """What a storage raises when it cannot take or give a file: OSError, and botocore's errors once loaded
    (only the S3 backend imports botocore, so the web process never pays for it otherwise)."""
    boto = sys.modules.get("botocore.exceptions")
    return (OSError,) if boto is None else (OSError, boto.BotoCoreError, boto.ClientError)


def storage_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in REASONS:
        return REASONS[exc.errno]
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):  # botocore ClientError: the server said no
        error = response["Error"]
        return f"the object storage refused the request ({error.get('Code')}: {error.get('Message')})"
    if type(exc).__module__.startswith("botocore") and "Connect" in type(exc).__name__:
        return f"the object storage cannot be reached ({exc})"
    return f"the artifact storage failed ({exc.__class__.__name__}: {exc})"


def open_stream(name: str, storage: Storage | None = None) -> IO[bytes]:
    """A stored file opened for reading front to back; object storage streams it instead of copying it first."""
    storage = storage or default_storage
    stream = getattr(storage, "open_stream", None)
    return stream(name) if stream is not None else storage.open(name, "rb")


def copy_to_local(name: str, target: Path, storage: Storage | None = None) -> Path:
    """Copy a stored file to a local path in chunks; the target appears whole or not at all."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open_stream(name, storage) as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


class ArtifactWriter:
    """Save files under one operation; `discard()` deletes whatever was saved.

        with ArtifactWriter("the dataset version") as writer:
            path = writer.save(name, handle)
            ...  # create the row: an exception here deletes the files too

    Any exception inside the block deletes the saved files; an OSError (or other storage failure)
    while saving becomes a StorageError naming the reason.
    """

    def __init__(self, what: str, storage: Storage | None = None) -> None:
        self.what = what
        self.storage = storage or default_storage
        self.saved: list[str] = []

    def save(self, name: str, content: IO[bytes] | File) -> str:
        file = content if isinstance(content, File) else File(content, name=name)
        # The name the storage will pick: a write that fails halfway may leave a partial file under it
        # (FileSystemStorage does), which is deleted with the others.
        target = self.storage.get_available_name(name)
        try:
            saved = self.storage.save(target, file)
        except storage_failures() as exc:
            self.saved.append(target)
            raise self.error(exc) from exc
        self.saved.append(saved)
        return saved

    def error(self, exc: BaseException) -> StorageError:
        return StorageError(f"Could not write {self.what}: {storage_reason(exc)}. Nothing was saved.")

    def discard(self) -> None:
        for name in reversed(self.saved):
            try:
                if self.storage.exists(name):
                    self.storage.delete(name)
            except Exception:  # noqa: BLE001 - keep deleting the others; the leftover is logged
                log.exception("could not delete %s after a failed write of %s", name, self.what)
        self.saved.clear()

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None:
            self.discard()
            if isinstance(exc, storage_failures()):
                raise self.error(exc) from exc  # e.g. the spooled temporary file ran out of space
        return False
