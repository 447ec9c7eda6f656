"""Choosing the artifact storage from the environment: the S3 settings, and what start-up says when one is missing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from annotune.storage_backend import FILESYSTEM, S3_BACKEND, default_storage_config
from tests.test_settings import PRODUCTION, run_manage

S3 = {
    "STORAGE_BACKEND": "s3",
    "AWS_STORAGE_BUCKET_NAME": "annotune-artifacts",
    "AWS_S3_ENDPOINT_URL": "http://minio.internal:9000",
    "AWS_ACCESS_KEY_ID": "annotune",
    "AWS_SECRET_ACCESS_KEY": "secret",
}


def test_a_folder_unless_s3_is_chosen(tmp_path):
    assert default_storage_config(tmp_path, {}) == {"BACKEND": FILESYSTEM, "OPTIONS": {"location": str(tmp_path)}}
    assert default_storage_config(tmp_path, {"STORAGE_BACKEND": "filesystem"})["BACKEND"] == FILESYSTEM


def test_s3_options_come_from_the_environment(tmp_path):
    config = default_storage_config(
        tmp_path, {**S3, "AWS_LOCATION": "/team-a/", "ANNOTUNE_S3_MULTIPART_CHUNKSIZE": str(16 * 2**20)}
    )
    assert config["BACKEND"] == S3_BACKEND
    options = config["OPTIONS"]
    assert options["bucket_name"] == "annotune-artifacts"
    assert options["endpoint_url"] == "http://minio.internal:9000"
    assert (options["access_key"], options["secret_key"]) == ("annotune", "secret")
    assert options["location"] == "team-a"
    assert options["multipart_chunksize"] == 16 * 2**20
    assert options["multipart_threshold"] == 8 * 2**20
    assert options["max_memory_size"] == 8 * 2**20  # a file read with open() spills to disk past this
    # django-storages' own class path selects the same configured backend.
    legacy = default_storage_config(tmp_path, {**S3, "STORAGE_BACKEND": "storages.backends.s3.S3Storage"})
    assert legacy == default_storage_config(tmp_path, S3)


def test_the_storage_class_builds_from_the_options(tmp_path):
    from annotune.s3 import ArtifactS3Storage

    storage = ArtifactS3Storage(**default_storage_config(tmp_path, S3)["OPTIONS"])
    assert storage.transfer_config.multipart_chunksize == 8 * 2**20
    assert storage.bucket_name == "annotune-artifacts"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AWS_STORAGE_BUCKET_NAME": ""}, "STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME"),
        ({"AWS_SECRET_ACCESS_KEY": ""}, "AWS_SECRET_ACCESS_KEY is not set. Set both"),
        ({"AWS_S3_ENDPOINT_URL": "minio:9000"}, "AWS_S3_ENDPOINT_URL must be an http:// or https:// URL"),
        ({"ANNOTUNE_S3_MULTIPART_CHUNKSIZE": "1048576"}, "ANNOTUNE_S3_MULTIPART_CHUNKSIZE must be at least 5242880"),
        ({"ANNOTUNE_S3_MULTIPART_THRESHOLD": "8M"}, "must be a whole number of bytes, got '8M'"),
    ],
)
def test_a_missing_or_bad_s3_setting_is_explained(tmp_path, change, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace(".", r"\.")):
        default_storage_config(tmp_path, {**S3, **change})


def test_start_up_fails_with_the_reason():
    result = run_manage("check", env={**PRODUCTION, **S3, "AWS_STORAGE_BUCKET_NAME": ""})
    assert result.returncode != 0
    assert "STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME" in result.stderr
    result = run_manage("check", env={**PRODUCTION, **S3})
    assert result.returncode == 0, result.stderr
