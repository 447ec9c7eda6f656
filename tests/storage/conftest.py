"""Fixtures of the object-storage tests: one moto S3 server per session, a bucket per test."""

from __future__ import annotations

import pytest

from annotune.storage_backend import default_storage_config

from .s3server import moto_server


@pytest.fixture(scope="session")
def s3_server():
    with moto_server() as server:
        yield server


@pytest.fixture
def s3_storage(s3_server, settings, tmp_path):
    """This test's artifacts go to a new bucket; returns (server, bucket, env) — env is what a worker needs."""
    bucket = s3_server.bucket()
    env = s3_server.env(bucket, ANNOTUNE_ARTIFACT_CACHE_DIR=str(tmp_path / "cache"))
    settings.STORAGES = {**settings.STORAGES, "default": default_storage_config(tmp_path / "unused", env)}
    settings.ARTIFACT_CACHE_DIR = tmp_path / "cache"
    return s3_server, bucket, env
