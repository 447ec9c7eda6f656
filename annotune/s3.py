"""Artifacts on S3-compatible object storage (Amazon S3, MinIO, Ceph, moto) through django-storages.

Selected with STORAGE_BACKEND=s3 (annotune/storage_backend.py reads the variables). Writes go through
`storage.save()`, which hands the file object to boto3's `upload_fileobj`: above the multipart threshold
it is sent in parts of `multipart_chunksize` (a few parts in flight, never the whole file in memory), and a
failed upload is aborted, so no object and no pending parts are left. `open_stream()` reads an object as
it arrives over HTTP, for downloads and for copies onto a worker's disk; `open()` (django-storages' S3File)
downloads the object first, into a temporary file that spills to disk past `max_memory_size`.
"""

from __future__ import annotations

import io
from typing import IO, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class _Body(io.RawIOBase):
    """A GetObject response body as a raw stream (BufferedReader adds lines and sized reads on top)."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        return self.body.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self.body.close()
        super().close()


class ArtifactS3Storage(S3Storage):
    def __init__(
        self,
        *,
        multipart_threshold: int = 8 * 1024 * 1024,
        multipart_chunksize: int = 8 * 1024 * 1024,
        max_concurrency: int = 4,
        **options: Any,
    ) -> None:
        if "transfer_config" not in options:
            config = TransferConfig(
                multipart_threshold=multipart_threshold,
                multipart_chunksize=multipart_chunksize,
                max_concurrency=max_concurrency,
            )
            # Parts read from a file object wait in memory for a thread (s3transfer queues 10 by default):
            # as many as are sent at once keeps an upload's memory at max_concurrency parts.
            config.max_in_memory_upload_chunks = max_concurrency
            options["transfer_config"] = config
        super().__init__(**options)

    def open_stream(self, name: str) -> IO[bytes]:
        """The object's bytes as they arrive (not seekable); FileNotFoundError when there is no such object."""
        key = self._normalize_name(clean_name(name))
        try:
            response = self.connection.meta.client.get_object(Bucket=self.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"No object {key} in bucket {self.bucket_name}.") from exc
            raise
        return io.BufferedReader(_Body(response["Body"]), buffer_size=1024 * 1024)
