"""A local S3-compatible server for the object-storage tests: moto in server mode, in its own process."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.workers import stop_process_group

PART = 5 * 1024 * 1024  # S3's smallest part: the tests' multipart threshold and part size


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def bucket(self) -> str:
        """A new empty bucket (one per test)."""
        name = f"annotune-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str, **extra: str) -> dict[str, str]:
        """The variables that select this bucket (what settings and a worker process read)."""
        return {
            "STORAGE_BACKEND": "s3",
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_S3_REGION_NAME": "us-east-1",
            "ANNOTUNE_S3_MULTIPART_THRESHOLD": str(PART),
            "ANNOTUNE_S3_MULTIPART_CHUNKSIZE": str(PART),
            **extra,
        }

    def objects(self, bucket: str, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Key -> {"Size", "ETag", ...} of every object under the prefix."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {item["Key"]: item for page in pages for item in page.get("Contents", [])}

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def pending_uploads(self, bucket: str) -> list[dict[str, Any]]:
        return self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@contextlib.contextmanager
def moto_server(timeout: float = 30) -> Iterator[S3Server]:
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="moto-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                server.client().list_buckets()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start:\n{Path(log.name).read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield server
    finally:
        stop_process_group(process)
        log.close()
        Path(log.name).unlink(missing_ok=True)
