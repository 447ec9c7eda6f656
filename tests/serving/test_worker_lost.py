"""Adapter operations (merge, combine, GGUF export) whose worker dies while they run are not left "running"
forever: an operation is queued again, and after its last attempt fails with `worker_lost` (a work row,
annotune/work.py). Evaluations have their own reaper (tests/evaluation/test_reaper.py).

The worker beats on the row (database clock, annotune/heartbeat.py); the reaper (`annotune.reap`) takes back
a row whose heartbeat went silent and keeps one that beats. The worker's own final write is fenced to its
attempt: a worker the reaper took for dead neither reports success over the reaper's write nor keeps files
or an adapter nobody can see.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from serving.models import Adapter, AdapterOperation, GenerationStatus, OperationKind
from serving.services import adapters as adapter_services
from serving.services.reaper import reap, reap_operations
from tests.serving.adapter_fixtures import *  # noqa: F403


def silent(model, pk: int, minutes: int = 10) -> None:
    """The row's heartbeat, `minutes` old (its worker stopped beating that long ago)."""
    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now() - timedelta(minutes=minutes))


def page(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# -- the reaper -----------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "again"),
    [
        ("merge", "merge the adapter again"),
        ("combine", "combine the adapters again"),
        ("gguf", "start the export again"),
    ],
)
def test_a_running_operation_whose_heartbeat_stopped_on_its_last_attempt_fails_with_worker_lost(
    project, owner, kind, again, settings
):
    dead = AdapterOperation.objects.create(
        project=project,
        kind=kind,
        status=GenerationStatus.RUNNING,
        attempts=settings.ANNOTUNE_JOB_MAX_ATTEMPTS,
        started_at=timezone.now(),
        created_by=owner,
    )
    alive = AdapterOperation.objects.create(
        project=project, kind=kind, status=GenerationStatus.RUNNING, started_at=timezone.now(), created_by=owner
    )
    silent(AdapterOperation, dead.pk)
    AdapterOperation.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now())

    assert reap()["operations_failed"] == [dead.pk]

    dead.refresh_from_db()
    assert dead.status == GenerationStatus.FAILED
    assert dead.error_code == "worker_lost"
    assert dead.error.startswith("worker_lost: the worker stopped")
    assert again in dead.error
    assert dead.finished_at is not None
    assert AdapterOperation.objects.get(pk=alive.pk).status == GenerationStatus.RUNNING  # it beats: kept
    assert reap_operations()["failed"] == []  # once
    text = page(owner, f"/projects/{project.pk}/adapter-operations/{dead.pk}/")
    assert "status-failed" in text
    assert again in text
    assert "hx-trigger" not in text  # done: the section stops polling


@pytest.mark.django_db
def test_a_failed_gguf_export_shows_its_error_on_the_adapter_page(project, owner, make_adapter, adapter_dirs, settings):
    settings.ANNOTUNE_JOB_MAX_ATTEMPTS = 1
    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    export = AdapterOperation.objects.create(
        project=project,
        kind=OperationKind.GGUF,
        adapter=adapter,
        status=GenerationStatus.RUNNING,
        attempts=1,
        created_by=owner,
    )
    silent(AdapterOperation, export.pk)
    assert reap_operations()["failed"] == [export.pk]
    text = page(owner, f"/projects/{project.pk}/adapters/{adapter.pk}/")
    assert 'data-status="failed"' in text
    assert f"GGUF export #{export.pk} failed: worker_lost" in text
    assert "start the export again" in text


# -- a late finish from a worker the reaper took for dead -----------------------------------------
def reaped_meanwhile(model, pk: int) -> None:
    """What the reaper does while the worker still works (it was silent, e.g. stalled on storage): the
    operation is queued again for another attempt."""
    silent(model, pk)
    assert pk in reap_operations()["requeued"]


@pytest.mark.slow  # merges and combines a tiny real model in this process
@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["merge", "combine"])
def test_a_late_finish_keeps_the_reapers_requeue_and_no_result(
    kind, project, owner, make_adapter, adapter_dirs, storage, monkeypatch, django_capture_on_commit_callbacks
):
    from serving.inference import combine, merge

    first = make_adapter("First", adapter_dirs["a"])
    second = make_adapter("Second", adapter_dirs["b"])
    before = {p for p in storage.rglob("*") if p.is_file()}
    with django_capture_on_commit_callbacks(execute=False):  # run here, not on a worker
        if kind == "merge":
            operation = adapter_services.merge_request(adapter=first, user=owner)
        else:
            sources = [{"adapter_id": first.pk, "weight": 0.5}, {"adapter_id": second.pk, "weight": 0.5}]
            operation = adapter_services.combine_request(
                project=project, user=owner, sources=sources, method="linear", name="Both"
            )
    module, name = (merge, "merge_adapter") if kind == "merge" else (combine, "combine_adapters")
    real = getattr(module, name)

    def then_reaped(*args, **kwargs):
        result = real(*args, **kwargs)
        reaped_meanwhile(AdapterOperation, operation.pk)
        return result

    monkeypatch.setattr(module, name, then_reaped)

    assert adapter_services.operation_execute(operation.pk) == "superseded"

    operation.refresh_from_db()
    assert operation.status == GenerationStatus.QUEUED  # for the next attempt, which the reaper sent
    assert "queued again" in operation.error
    assert operation.storage_path == ""
    assert operation.result_adapter_id is None
    assert set(Adapter.objects.values_list("pk", flat=True)) == {first.pk, second.pk}
    assert {p for p in storage.rglob("*") if p.is_file()} == before  # the result's files were deleted
