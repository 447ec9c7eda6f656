"""Fixtures of the datasets tests: a storage folder per test, imports run in-process."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ExampleStatus
from curated_data.models import ImportJob
from curated_data.services import imports
from tests.factories import ExampleFactory


@pytest.fixture(autouse=True)
def storage_root(tmp_path, settings):
    root = tmp_path / "storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def run_import(project, owner):
    """Upload bytes and run the import right here (the worker's code, without the worker)."""

    def run(data: bytes, name: str = "data.jsonl", *, user=None, **options) -> ImportJob:
        upload = SimpleUploadedFile(name, data)
        job = imports.import_create(project=project, user=user or owner, upload=upload, **options)
        imports.import_run(job_id=job.pk)
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def approved(project, annotator):
    """`approved(n)` makes n approved examples (alternating categories) and returns them."""

    def make(n: int, *, start: int = 0, categories=("billing", "general")):
        return [
            ExampleFactory(
                project=project,
                author=annotator,
                status=ExampleStatus.APPROVED,
                category=categories[i % len(categories)],
                messages=[
                    {"role": "user", "content": f"Question {i}: how do I export invoice {i}?"},
                    {"role": "assistant", "content": f"Open Billing, pick invoice {i} and choose Export."},
                ],
            )
            for i in range(start, start + n)
        ]

    return make
