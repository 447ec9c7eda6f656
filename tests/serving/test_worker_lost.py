"""Adapter operations (merge, combine, GGUF export) and evaluations whose worker dies while they run are not
left "running" / "generating" forever: an operation is queued again, and after its last attempt fails with
`worker_lost` (a work row, annotune/work.py); an evaluation fails with `worker_lost`.

The worker beats on the row (database clock, annotune/heartbeat.py); the reaper (`annotune.reap`) takes back
a row whose heartbeat went silent and keeps one that beats. The worker's own final write is fenced to its
attempt: a worker the reaper took for dead neither reports success over the reaper's write nor keeps files,
an adapter or answers nobody can see.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from evaluation.models import Evaluation, EvaluationAnswer, EvaluationItem, EvaluationStatus
from evaluation.services import evaluations
from serving.inference.outputs import Answer
from serving.models import Adapter, AdapterOperation, GenerationStatus, OperationKind
from serving.services import adapters as adapter_services
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.workers import celery_worker, wait_for
from training.services.reaper import reap, reap_evaluations, reap_operations


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


@pytest.mark.django_db
def test_an_evaluation_whose_heartbeat_stopped_while_generating_fails_with_worker_lost(
    project, owner, make_adapter, adapter_dirs
):
    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    dead, alive = (
        evaluations.evaluation_create(
            project=project, user=owner, name=name, adapter_ids=[adapter.pk], prompts_text="Where is my parcel?"
        )
        for name in ("Dead", "Alive")
    )
    Evaluation.objects.filter(pk__in=[dead.pk, alive.pk]).update(
        status=EvaluationStatus.GENERATING, heartbeat_at=timezone.now()
    )
    silent(Evaluation, dead.pk)

    assert reap()["evaluations_failed"] == [dead.pk]

    dead.refresh_from_db()
    assert dead.status == EvaluationStatus.FAILED
    assert dead.error_code == "worker_lost"
    assert "Create the evaluation again" in dead.error
    assert Evaluation.objects.get(pk=alive.pk).status == EvaluationStatus.GENERATING
    text = page(owner, f"/projects/{project.pk}/evaluations/{dead.pk}/")
    assert "worker_lost: the worker stopped" in text
    assert "generating the answers…" not in text  # not polling
    assert "shown once the owner closes" not in text


# -- a late finish from a worker the reaper took for dead -----------------------------------------
def reaped_meanwhile(model, pk: int) -> None:
    """What the reaper does while the worker still works (it was silent, e.g. stalled on storage): an
    operation is queued again for another attempt, an evaluation failed."""
    silent(model, pk)
    if model is AdapterOperation:
        assert pk in reap_operations()["requeued"]
    else:
        assert pk in reap_evaluations()["evaluations_failed"]


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


@pytest.mark.django_db
def test_a_late_evaluation_writes_no_answers_over_the_reapers_failure(project, owner, make_adapter, adapter_dirs):
    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    evaluation = evaluations.evaluation_create(
        project=project, user=owner, name="Late", adapter_ids=[adapter.pk], prompts_text="Hi\nWhere is my parcel?"
    )

    class StalledBackend:
        worker, inline = "stalled", False

        def answer(self, **kwargs):
            if Evaluation.objects.filter(pk=evaluation.pk, status=EvaluationStatus.GENERATING).exists():
                reaped_meanwhile(Evaluation, evaluation.pk)
            return Answer(text="late", prompt_tokens=1, completion_tokens=1, finish_reason="stop", seconds=0.0)

    assert evaluations.evaluation_generate(evaluation.pk, StalledBackend()) == "superseded"

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.FAILED
    assert evaluation.error_code == "worker_lost"
    assert not EvaluationAnswer.objects.filter(prompt__evaluation=evaluation).exists()
    assert not EvaluationItem.objects.filter(evaluation=evaluation).exists()


# -- a real worker process, killed while it generates -----------------------------------------------
@pytest.mark.slow
@pytest.mark.faults
@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_a_killed_inference_worker_leaves_a_failed_evaluation_not_generating_forever(
    project, owner, make_adapter, adapter_dirs, storage, settings
):
    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    prompts = "\n".join(f"Question {i}: where is parcel {i}, and when will it arrive?" for i in range(200))
    env = {"ANNOTUNE_STORAGE_ROOT": str(storage), "ANNOTUNE_JOB_HEARTBEAT_SECONDS": "1"}
    settings.ANNOTUNE_OPERATION_STALE_SECONDS = 4

    with celery_worker("inference", env=env) as worker:
        evaluation = evaluations.evaluation_create(
            project=project, user=owner, name="Killed", adapter_ids=[adapter.pk], prompts_text=prompts,
            max_new_tokens=64,
        )  # fmt: skip
        claimed = wait_for(
            lambda: (
                Evaluation.objects.filter(pk=evaluation.pk, status="generating")
                .values_list("heartbeat_at", flat=True)
                .first()
            ),
            timeout=120,
            interval=0.05,
            message="the worker to claim the evaluation",
        )
        wait_for(
            lambda: Evaluation.objects.filter(pk=evaluation.pk, status="generating", heartbeat_at__gt=claimed).exists(),
            timeout=30,
            interval=0.1,
            message="the worker's heartbeat while it generates",
        )
        assert reap_evaluations()["evaluations_failed"] == []  # it beats: the reaper keeps it
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.GENERATING, "it finished before the kill: make it bigger"

    # The heartbeat stops with the process; once silent for the stale time, the reaper fails it.
    failed = wait_for(lambda: reap_evaluations()["evaluations_failed"], timeout=30, interval=0.5, message="the reap")
    assert failed == [evaluation.pk]
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.error_code) == (EvaluationStatus.FAILED, "worker_lost")
    assert not EvaluationItem.objects.filter(evaluation=evaluation).exists()
    # A late redelivery of the message (Redis' visibility timeout) is a no-op.
    assert evaluations.evaluation_generate(evaluation.pk, backend=None) == "skipped"
    assert Evaluation.objects.get(pk=evaluation.pk).status == EvaluationStatus.FAILED
    assert "worker_lost" in page(owner, f"/projects/{project.pk}/evaluations/{evaluation.pk}/")
