"""A FileSystemStorage that runs out of space (or is read-only) on cue, for the storage-failure tests.

Configured through settings.STORAGES like any backend:
    {"BACKEND": "tests.faults.storage.FailingStorage",
     "OPTIONS": {"location": ..., "files_before_failure": 2, "bytes_before_failure": 10, "error": "ENOSPC"}}
It stores `files_before_failure` files, then writes `bytes_before_failure` bytes of the next one to
disk (as a real full disk leaves a partial file) and raises OSError with the errno named by `error`.
"""

from __future__ import annotations

import errno
import os

from django.core.files.storage import FileSystemStorage


class FailingStorage(FileSystemStorage):
    def __init__(self, *, files_before_failure: int = 0, bytes_before_failure: int = 0, error: str = "ENOSPC", **kw):
        super().__init__(**kw)
        self.files_before_failure = files_before_failure
        self.bytes_before_failure = bytes_before_failure
        self.errno = getattr(errno, error)
        self.saves = 0

    def _save(self, name, content):
        if self.saves < self.files_before_failure:
            self.saves += 1
            return super()._save(name, content)
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if self.bytes_before_failure:
            content.seek(0)
            with open(path, "wb") as partial:
                partial.write(content.read(self.bytes_before_failure))
        raise OSError(self.errno, os.strerror(self.errno), path)
