"""Artifact writes and reads on an S3-compatible server (moto): multipart, all-or-nothing, streamed reads,
the worker-local cache of stored folders, and checkpoints stored for another worker to resume."""

from __future__ import annotations

import errno
import io
import json
import os

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from annotune.storage import ArtifactWriter, StorageError, open_stream
from training.services import folders
from training.services.checkpoints import CheckpointMirror

from .s3server import PART

pytestmark = pytest.mark.slow  # starts a moto server process


class FullDisk(io.RawIOBase):
    """Gives `size` bytes of data, then fails as a full disk does (e.g. the spooled file being uploaded)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def test_a_failure_mid_upload_leaves_no_object_and_no_parts(s3_storage):
    server, bucket, _env = s3_storage
    writer = ArtifactWriter("the adapter")
    writer.save("adapters/a/adapter_config.json", ContentFile(b'{"peft_type": "LORA"}'))
    assert set(server.objects(bucket)) == {"adapters/a/adapter_config.json"}

    # More than one part goes out before the failure: a multipart upload was under way.
    with pytest.raises(StorageError) as caught:
        writer.save("adapters/a/adapter_model.safetensors", File(io.BufferedReader(FullDisk(2 * PART + 1000))))
    writer.discard()

    assert "full (no space left on device)" in caught.value.message
    assert server.objects(bucket) == {}  # neither the file that failed nor the one before it
    assert server.pending_uploads(bucket) == []  # the multipart upload was aborted, no parts kept


def test_the_bucket_refusing_a_write_is_a_clear_error(s3_storage):
    server, bucket, _env = s3_storage
    server.client().delete_bucket(Bucket=bucket)
    with pytest.raises(StorageError) as caught, ArtifactWriter("the dataset version") as writer:
        writer.save("datasets/x/all.jsonl", ContentFile(b"{}\n"))
    assert "the object storage refused the request (NoSuchBucket" in caught.value.message
    assert caught.value.message.endswith("Nothing was saved.")


def test_a_large_file_goes_up_in_parts_and_streams_back(s3_storage):
    server, bucket, _env = s3_storage
    data = os.urandom(PART * 2 + 12345)
    with ArtifactWriter("the export") as writer:
        name = writer.save("exports/big.bin", ContentFile(data))
    stored = server.objects(bucket)[name]
    assert stored["Size"] == len(data)
    assert stored["ETag"].strip('"').endswith("-3")  # three parts: 5 MiB, 5 MiB, the rest

    with open_stream(name) as stream:
        assert stream.read(10) == data[:10]  # read as it arrives, in pieces
        assert stream.read() == data[10:]


def test_a_stored_folder_is_fetched_once_into_the_local_cache(s3_storage, tmp_path, settings):
    server, bucket, _env = s3_storage
    source = tmp_path / "adapter"
    (source / "sub").mkdir(parents=True)
    (source / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (source / "sub" / "weights.bin").write_bytes(os.urandom(3000))
    assert folders.save_folder(source, "adapters/project-1/job-7") == 3000 + 21

    local = folders.local_folder("adapters/project-1/job-7")
    assert local.parent == settings.ARTIFACT_CACHE_DIR
    assert (local / "sub" / "weights.bin").read_bytes() == (source / "sub" / "weights.bin").read_bytes()
    assert [p.name for p in local.parent.iterdir()] == [local.name]  # no staging folder left behind

    server.client().delete_object(Bucket=bucket, Key="adapters/project-1/job-7/sub/weights.bin")
    assert folders.local_folder("adapters/project-1/job-7") == local  # the cached copy is used as it is

    folders.delete_folder("adapters/project-1/job-7")
    assert server.objects(bucket) == {}
    assert not local.exists()
    with pytest.raises(FileNotFoundError):
        folders.local_folder("adapters/project-1/job-7")


def fake_checkpoint(folder, step: int) -> None:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(os.urandom(2000))
    (path / "optimizer.pt").write_bytes(os.urandom(4000))
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))


def test_checkpoints_are_stored_for_another_worker_to_resume(s3_storage, tmp_path):
    server, bucket, _env = s3_storage
    here = tmp_path / "worker-a" / "checkpoints"
    mirror = CheckpointMirror(7, here)
    fake_checkpoint(here, 2)
    (here / "checkpoint-4").mkdir()  # Trainer is still writing this one: no trainer_state.json yet
    mirror.poll()
    assert mirror.finish() == (2, None)
    fake_checkpoint(here / "newer", 4)
    (here / "checkpoint-4").rmdir()
    (here / "newer" / "checkpoint-4").rename(here / "checkpoint-4")
    mirror.poll()
    assert mirror.finish() == (4, None)

    keys = set(server.objects(bucket))
    assert keys == {
        f"checkpoints/job-7/checkpoint-4/{name}"
        for name in ("adapter_model.safetensors", "optimizer.pt", "trainer_state.json", "manifest.json")
    }  # the older one was deleted once the newer one was whole

    # A stored checkpoint without its manifest is partial: never restored.
    server.client().put_object(Bucket=bucket, Key="checkpoints/job-7/checkpoint-6/optimizer.pt", Body=b"half")

    elsewhere = tmp_path / "worker-b" / "checkpoints"
    assert CheckpointMirror(7, elsewhere).restore() == 4
    for name in ("adapter_model.safetensors", "optimizer.pt", "trainer_state.json"):
        assert (elsewhere / "checkpoint-4" / name).read_bytes() == (here / "checkpoint-4" / name).read_bytes()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["checkpoint-4"]
    again = CheckpointMirror(7, here)
    assert again.restore() is None  # a worker with its own checkpoint keeps it...
    assert again.stored_step == 4  # ...and does not copy it to storage again

    mirror.discard()
    assert server.objects(bucket) == {}
