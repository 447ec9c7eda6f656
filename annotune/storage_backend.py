"""Which storage holds the artifacts, read from the environment (imported by settings; no boto3 here).

STORAGE_BACKEND unset or `filesystem`: a folder (ANNOTUNE_STORAGE_ROOT) that every process on the machine
shares, or a volume mounted on every machine. `s3`: a bucket on S3-compatible object storage
(annotune/s3.py), which workers on many machines read and write. Any other value is a storage class path
used with no options (it reads its own settings).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

FILESYSTEM = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "annotune.s3.ArtifactS3Storage"
S3_NAMES = {"s3", S3_BACKEND, "storages.backends.s3.S3Storage", "storages.backends.s3boto3.S3Boto3Storage"}
MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB  # S3 refuses smaller parts (all but the last) in a multipart upload


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number of bytes, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value}).")
    return value


def s3_options(env: Mapping[str, str]) -> dict[str, Any]:
    """The S3 storage's options from AWS_* / ANNOTUNE_S3_* variables; ImproperlyConfigured says what is missing."""
    bucket = (env.get("AWS_STORAGE_BUCKET_NAME") or "").strip()
    if not bucket:
        raise ImproperlyConfigured(
            "STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME (the bucket that holds the artifacts); set it, "
            "and AWS_S3_ENDPOINT_URL for a server other than Amazon S3 (MinIO, Ceph, moto)."
        )
    access_key, secret_key = env.get("AWS_ACCESS_KEY_ID") or "", env.get("AWS_SECRET_ACCESS_KEY") or ""
    if bool(access_key) != bool(secret_key):
        missing = "AWS_SECRET_ACCESS_KEY" if access_key else "AWS_ACCESS_KEY_ID"
        raise ImproperlyConfigured(
            f"STORAGE_BACKEND=s3: {missing} is not set. Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or neither (boto3 then uses its own credential chain: instance role, ~/.aws)."
        )
    endpoint = (env.get("AWS_S3_ENDPOINT_URL") or "").strip()
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"AWS_S3_ENDPOINT_URL must be an http:// or https:// URL, got {endpoint!r}")
    chunk = _int(env, "ANNOTUNE_S3_MULTIPART_CHUNKSIZE", 8 * MIB, S3_MIN_PART)
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint or None,
        "region_name": (env.get("AWS_S3_REGION_NAME") or "").strip() or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "location": (env.get("AWS_LOCATION") or "").strip("/"),  # a key prefix to share one bucket
        "addressing_style": (env.get("AWS_S3_ADDRESSING_STYLE") or "").strip() or None,  # `path` for most servers
        "file_overwrite": True,  # artifact keys are unique per row (job, version, merge)
        "querystring_auth": True,
        # Files opened with storage.open() spill to a temporary file past this size (0 would keep them in memory).
        "max_memory_size": _int(env, "ANNOTUNE_S3_MAX_MEMORY_SIZE", 8 * MIB, 1),
        "multipart_threshold": _int(env, "ANNOTUNE_S3_MULTIPART_THRESHOLD", 8 * MIB, S3_MIN_PART),
        "multipart_chunksize": chunk,
        "max_concurrency": _int(env, "ANNOTUNE_S3_MAX_CONCURRENCY", 4, 1),
    }


def default_storage_config(root: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """settings.STORAGES["default"] for the environment (os.environ unless given)."""
    env = os.environ if env is None else env
    backend = (env.get("STORAGE_BACKEND") or "").strip()
    if backend in ("", "filesystem", FILESYSTEM):
        return {"BACKEND": FILESYSTEM, "OPTIONS": {"location": str(root)}}
    if backend in S3_NAMES:
        return {"BACKEND": S3_BACKEND, "OPTIONS": s3_options(env)}
    return {"BACKEND": backend, "OPTIONS": {}}
