"""The whole path on S3-compatible object storage: import → version → train → adapter download.

A moto server stands in for the bucket, over HTTP. The web side (this test process) and a real Celery
worker process (import and training queues) are both configured for it only through the environment
(STORAGE_BACKEND=s3, AWS_*), and both are given a local storage folder that must stay unused. The
import file is larger than the multipart part size (5 MiB here, S3's smallest), so it goes up in parts;
the worker streams it back, trains on the version's files from the bucket and uploads the adapter, which
downloads as a zip through the API. (The worker-side cache of stored folders: test_s3_writes.py.)
"""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Example, ExampleStatus
from curated_data.models import DatasetVersion, ImportJob, ImportStatus
from serving.models import Adapter
from tests.training.jobs.conftest import TINY_CONFIG, tiny_models  # noqa: F401 - fixture
from tests.workers import celery_worker, wait_for
from training.models import BaseModel, JobStatus, TrainingJob

from .s3server import PART

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORDS = "invoice refund parcel account password export billing plan upgrade receipt card address".split()


def small(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Question {i}: how do I export invoice {i}?"},
            {"role": "assistant", "content": f"Open Billing, pick invoice {i} and choose Export {i}."},
        ],
        "category": ("billing", "general")[i % 2],
    }


def long_answer(i: int, rng: random.Random) -> dict:
    text = " ".join(rng.choice(WORDS) for _ in range(3500))  # ~27 KB of varied text
    return {
        "messages": [
            {"role": "user", "content": f"Tell me everything about case {i}."},
            {"role": "assistant", "content": f"Case {i}: {text}."},
        ],
        "category": "general",
    }


def import_file() -> bytes:
    """24 short conversations (the ones trained on) and enough long ones to pass the part size."""
    rng = random.Random(7)
    rows = [small(i) for i in range(24)]
    size, i = sum(len(json.dumps(r)) for r in rows), 0
    while size < PART + PART // 5:
        rows.append(long_answer(i, rng))
        size += len(json.dumps(rows[-1]))
        i += 1
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def parts(etag: str) -> int:
    """How many parts a multipart upload had (its ETag ends in -N); 1 for a plain PUT."""
    etag = etag.strip('"')
    return int(etag.rsplit("-", 1)[1]) if "-" in etag else 1


def task_done(worker, name: str) -> bool:
    return re.search(rf"Task [\w.]*{name}\[[^\]]+\] succeeded", Path(worker.log_path).read_text()) is not None


def test_import_version_train_download_on_object_storage(s3_storage, api, project, owner, tiny_models, tmp_path):  # noqa: F811
    server, bucket, env = s3_storage
    unused_root = tmp_path / "unused"  # the local storage folder: nothing may land there
    worker_env = {
        **env,
        "ANNOTUNE_STORAGE_ROOT": str(unused_root),
        "ANNOTUNE_TRAINING_DIR": str(tmp_path / "training"),
        "ANNOTUNE_TRAINING_HEARTBEAT_SECONDS": "1",
    }
    project.base_model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    project.save()
    client = api(owner)
    data = import_file()
    assert len(data) > PART

    with celery_worker("default,training", env=worker_env) as worker:
        # Import: the upload goes to the bucket in parts, the worker streams it back.
        response = client.post(
            f"/api/v1/projects/{project.pk}/imports/",
            {"file": SimpleUploadedFile("cases.jsonl", data)},
            format="multipart",
        )
        assert response.status_code in (201, 202), response.content
        job_id = response.json()["id"]
        imported = wait_for(
            lambda: (
                (j := ImportJob.objects.get(pk=job_id)).status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED) and j
            ),
            120,
            message="the import",
        )
        assert imported.status == ImportStatus.SUCCEEDED, imported.error
        assert imported.rows_imported == data.count(b"\n")

        # Review (outside this test's subject): the short conversations are approved.
        short = Example.objects.filter(project=project, messages__0__content__startswith="Question ")
        assert short.update(status=ExampleStatus.APPROVED) == 24

        # Version: its files are written to the bucket.
        response = client.post(
            f"/api/v1/projects/{project.pk}/versions/", {"override_reason": "test data"}, format="json"
        )
        assert response.status_code == 201, response.content
        version = DatasetVersion.objects.get(pk=response.json()["id"])

        # Train: the worker reads the version from the bucket and uploads the adapter (and checkpoints).
        response = client.post(
            f"/api/v1/projects/{project.pk}/training-jobs/",
            {"dataset_version": version.pk, "config": TINY_CONFIG},
            format="json",
        )
        assert response.status_code == 201, response.content
        pk = response.json()["id"]
        job = wait_for(
            lambda: (j := TrainingJob.objects.get(pk=pk)).status not in (JobStatus.QUEUED, JobStatus.RUNNING) and j,
            300,
            message="the training job",
        )
        assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail, Path(worker.log_path).read_text()[-3000:])
        adapter = Adapter.objects.get(job=job)
        # The row says succeeded before the task is over: it then deletes the job's stored checkpoints.
        wait_for(lambda: task_done(worker, "run_training_job"), 60, message="the training task to end")

    # The import went up in parts; every artifact is in the bucket, nothing in the local folder.
    objects = server.objects(bucket)
    assert imported.file in objects
    assert parts(objects[imported.file]["ETag"]) == 2  # 5 MiB, then the rest
    assert objects[imported.file]["Size"] == len(data)
    assert {version.all_path, version.train_path, version.validation_path, version.manifest_path} <= set(objects)
    assert not unused_root.exists()
    assert not [key for key in objects if key.startswith("checkpoints/")]  # the job ended: its checkpoints went

    # The version downloads as stored (streamed from the bucket, with its length).
    download = client.get(f"/api/v1/projects/{project.pk}/versions/{version.number}/download/?part=train")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert body == server.read(bucket, version.train_path)
    assert int(download["Content-Length"]) == len(body)

    # The adapter downloads as a zip whose files are the bucket's objects, byte for byte.
    stored = {
        key[len(adapter.storage_path) + 1 :]: server.read(bucket, key)
        for key in objects
        if key.startswith(adapter.storage_path + "/")
    }
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(stored)
    download = client.get(f"/api/v1/projects/{project.pk}/adapters/{adapter.pk}/download/")
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    root = archive.namelist()[0].split("/")[0]
    zipped = {name[len(root) + 1 :]: archive.read(name) for name in archive.namelist()}
    assert set(zipped) == set(stored)
    # The weights byte for byte; the owner (not staff) reads the local base by its folder name.
    source = project.base_model.source
    shown = {
        name: data.replace(source.rstrip("/").encode(), f"./{Path(source).name}".encode())
        for name, data in stored.items()
    }
    assert zipped == shown
    assert json.loads(zipped["adapter_config.json"])["base_model_name_or_path"] == f"./{Path(source).name}"
