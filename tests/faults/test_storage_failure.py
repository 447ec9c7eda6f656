"""A full or read-only artifact volume while a dataset version, an import upload or an adapter is written.

The storage is a FileSystemStorage that takes N files and then fails partway through the next
(tests/faults/storage.py), configured through settings.STORAGES. Each operation must fail with the
reason, leave no row that names the artifact, and leave no file (whole or partial) behind.
Exports stream to the client and never write to the artifact storage: they keep working.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ExampleStatus
from curated_data.models import DatasetVersion, ImportJob
from serving.models import Adapter
from tests.factories import ExampleFactory
from training.models import BaseModel, JobStatus, TrainingJob
from training.processes import runner
from training.services import execution

pytestmark = [pytest.mark.slow, pytest.mark.faults]


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def failing_storage(tmp_path, settings):
    """`failing_storage(files=2, partial_bytes=10, error="ENOSPC")` -> the storage folder."""
    root = tmp_path / "storage"

    def configure(*, files: int = 0, partial_bytes: int = 0, error: str = "ENOSPC") -> Path:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "tests.faults.storage.FailingStorage",
                "OPTIONS": {
                    "location": str(root),
                    "files_before_failure": files,
                    "bytes_before_failure": partial_bytes,
                    "error": error,
                },
            },
        }
        return root

    return configure


@pytest.fixture
def approved_examples(project, annotator):
    return [
        ExampleFactory(project=project, author=annotator, status=ExampleStatus.APPROVED, category=category)
        for category in ["billing", "general"] * 6
    ]


VERSION_BODY = {"notes": "v1", "override_reason": "fault test"}


@pytest.mark.parametrize(
    ("files", "partial", "error", "reason"),
    [
        (2, 25, "ENOSPC", "full (no space left on device)"),  # two files stored, the third cut short
        (0, 0, "EROFS", "read-only"),  # nothing can be written at all
    ],
)
def test_version_creation_fails_with_the_reason_and_leaves_nothing(
    api, owner, project, approved_examples, failing_storage, files, partial, error, reason
):
    root = failing_storage(files=files, partial_bytes=partial, error=error)

    response = api(owner).post(f"/api/v1/projects/{project.pk}/versions/", VERSION_BODY, format="json")

    assert response.status_code == 503, response.content
    detail = response.json()["detail"]
    assert detail == f"Could not write the dataset version: the artifact storage is {reason}. Nothing was saved."
    assert not DatasetVersion.objects.exists()
    assert files_under(root) == []


def test_version_after_the_storage_recovers_is_number_one(api, owner, project, approved_examples, failing_storage):
    failing_storage(files=3, partial_bytes=5)
    assert api(owner).post(f"/api/v1/projects/{project.pk}/versions/", VERSION_BODY, format="json").status_code == 503
    root = failing_storage(files=100)

    response = api(owner).post(f"/api/v1/projects/{project.pk}/versions/", VERSION_BODY, format="json")

    assert response.status_code == 201, response.content
    assert DatasetVersion.objects.get().number == 1
    assert len(files_under(root)) == 4  # all, train, validation, manifest: no leftovers beside them


def test_version_page_shows_the_reason(client, owner, project, approved_examples, failing_storage):
    root = failing_storage(files=1, partial_bytes=3)
    client.force_login(owner)

    response = client.post(f"/projects/{project.pk}/datasets/versions/", VERSION_BODY)

    assert b"the artifact storage is full" in response.content
    assert not DatasetVersion.objects.exists()
    assert files_under(root) == []


def test_import_upload_to_a_full_storage_fails_with_the_reason(api, owner, project, failing_storage):
    root = failing_storage(files=0, partial_bytes=7)
    line = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})

    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("data.jsonl", (line + "\n").encode() * 20)},
        format="multipart",
    )

    assert response.status_code == 503, response.content
    assert "the artifact storage is full" in response.json()["detail"]
    assert not ImportJob.objects.exists()
    assert files_under(root) == []


def test_export_does_not_need_the_artifact_storage(api, owner, project, approved_examples, failing_storage):
    failing_storage(files=0, error="EROFS")

    response = api(owner).get(f"/api/v1/projects/{project.pk}/export/?file_format=messages&status=approved")

    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == len(approved_examples)


# --- adapters --------------------------------------------------------------------------------------


def engine_output(folder: Path) -> Path:
    """What a successful engine run leaves: PEFT files and a model card (the bytes do not matter here)."""
    adapter = folder / "output" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA"}))
    (adapter / "adapter_model.safetensors").write_bytes(os.urandom(64 * 1024))
    (adapter / "README.md").write_text("# Model card\n")
    (adapter / "tokenizer").mkdir()
    (adapter / "tokenizer" / "tokenizer.json").write_text("{}")
    return adapter


@pytest.fixture
def running_job(project, owner):
    base = BaseModel.objects.create(name="tiny-base", source="/nowhere/tiny", architecture="LlamaForCausalLM")
    job = TrainingJob.objects.create(
        project=project,
        base_model=base,
        train_path="training/jobs/x/train.jsonl",
        dataset_sha256="ab" * 32,
        train_examples=10,
        method="lora",
        config={"seed": 7},
        created_by=owner,
    )
    assert execution.job_claim(job.pk) is not None
    row = TrainingJob.objects.select_related("base_model", "project", "dataset_version").get(pk=job.pk)
    return execution.JobReporter(row)


def succeeded(adapter: Path) -> runner.ChildOutcome:
    return runner.ChildOutcome(
        status=runner.SUCCEEDED,
        result={"adapter_dir": str(adapter), "metrics": {"train_loss": 1.0, "global_step": 3}, "samples": []},
    )


@pytest.mark.parametrize(("files", "partial", "error"), [(2, 1000, "ENOSPC"), (0, 0, "EROFS")])
def test_adapter_finish_on_a_failing_storage_fails_the_job_and_leaves_nothing(
    running_job, failing_storage, tmp_path, files, partial, error
):
    root = failing_storage(files=files, partial_bytes=partial, error=error)
    adapter = engine_output(tmp_path / "work")

    assert execution.finish_outcome(running_job, succeeded(adapter), adapter.parent) == "failed"

    job = TrainingJob.objects.get(pk=running_job.job.pk)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "storage"
    assert job.error.startswith("Could not write the adapter: the artifact storage is")
    assert job.error in job.log_tail
    assert not Adapter.objects.exists()
    assert files_under(root) == []


def test_adapter_files_go_when_the_row_cannot_be_written(running_job, failing_storage, tmp_path, monkeypatch):
    root = failing_storage(files=100)
    adapter = engine_output(tmp_path / "work")

    def refuse(*args, **kwargs):
        raise RuntimeError("database refused the row")

    monkeypatch.setattr(Adapter.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        execution.finish_outcome(running_job, succeeded(adapter), adapter.parent)

    assert files_under(root) == []
    assert TrainingJob.objects.get(pk=running_job.job.pk).status == JobStatus.RUNNING  # the reaper's to retry


def test_adapter_finish_with_room_stores_every_file(running_job, failing_storage, tmp_path):
    root = failing_storage(files=100)
    adapter = engine_output(tmp_path / "work")

    assert execution.finish_outcome(running_job, succeeded(adapter), adapter.parent) == "succeeded"

    stored = Adapter.objects.get()
    assert sorted(files_under(root / stored.storage_path)) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer/tokenizer.json",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o555 folder; the failing storage covers it")
def test_version_on_a_read_only_folder(api, owner, project, approved_examples, tmp_path, settings):
    root = tmp_path / "storage"
    (root / "datasets").mkdir(parents=True)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    root.chmod(0o555)
    (root / "datasets").chmod(0o555)
    try:
        response = api(owner).post(f"/api/v1/projects/{project.pk}/versions/", VERSION_BODY, format="json")
    finally:
        (root / "datasets").chmod(0o755)
        root.chmod(0o755)
    assert response.status_code == 503
    assert "refused the write" in response.json()["detail"]
    assert not DatasetVersion.objects.exists()
    assert files_under(root) == []
