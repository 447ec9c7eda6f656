"""Merges and combinations write their files all-or-nothing: a storage that fails partway leaves no file
of the result, no result adapter, and an operation that failed with the storage's reason."""

from __future__ import annotations

import pytest

from serving.models import Adapter, GenerationStatus
from serving.services.adapters import combine_request, merge_request, operation_execute
from tests.serving.adapter_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.slow, pytest.mark.django_db]  # merges a tiny real model in this process


def fail_after(settings, root, files: int) -> None:
    """The same storage folder, now full after `files` more files (tests/faults/storage.py)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "tests.faults.storage.FailingStorage",
            "OPTIONS": {"location": str(root), "files_before_failure": files, "bytes_before_failure": 10},
        },
    }


def stored(root) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", ["merge", "combine"])
def test_a_full_storage_keeps_nothing_of_the_result(
    kind, project, owner, make_adapter, adapter_dirs, storage, settings, django_capture_on_commit_callbacks
):
    first = make_adapter("First", adapter_dirs["a"])
    second = make_adapter("Second", adapter_dirs["b"])
    before = stored(storage)
    with django_capture_on_commit_callbacks(execute=False):  # run here, not on a worker
        if kind == "merge":
            operation = merge_request(adapter=first, user=owner)
        else:
            sources = [{"adapter_id": first.pk, "weight": 0.5}, {"adapter_id": second.pk, "weight": 0.5}]
            operation = combine_request(project=project, user=owner, sources=sources, method="linear", name="Both")
    fail_after(settings, storage, files=1)  # the result's first file is written, the second cut short

    assert operation_execute(operation.pk) == "failed"

    operation.refresh_from_db()
    assert operation.status == GenerationStatus.FAILED
    assert operation.error_code == "storage"
    assert "full (no space left on device)" in operation.error
    assert stored(storage) == before  # the parents' files, and nothing of the result
    assert set(Adapter.objects.values_list("pk", flat=True)) == {first.pk, second.pk}
