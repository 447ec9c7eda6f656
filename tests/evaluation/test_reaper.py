"""The evaluation app's reaper (`evaluation.services.reaper`, run by the periodic `annotune.reap`): an
evaluation whose worker dies while it generates fails with `worker_lost` instead of generating forever, and
one whose message the broker lost is sent again.

The worker beats on the row (database clock, annotune/heartbeat.py); the reaper fails an evaluation whose
heartbeat went silent and keeps one that beats. The worker's answers are written only while the evaluation
is still generating: a worker the reaper took for dead leaves no answers nobody can see.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotune import dispatch
from annotune.celery import reap as periodic_reap
from evaluation.models import Evaluation, EvaluationAnswer, EvaluationItem, EvaluationStatus
from evaluation.services import evaluations
from evaluation.services.reaper import reap, reap_evaluations
from serving.inference.outputs import Answer
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.workers import celery_worker, wait_for


def silent(pk: int, minutes: int = 10) -> None:
    """The evaluation's heartbeat, `minutes` old (its worker stopped beating that long ago)."""
    Evaluation.objects.filter(pk=pk).update(heartbeat_at=timezone.now() - timedelta(minutes=minutes))


def page(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def purge_inference_queue() -> None:
    from annotune.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("inference")


# -- the reaper -----------------------------------------------------------------------------------
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
        status=EvaluationStatus.RUNNING, heartbeat_at=timezone.now()
    )
    silent(dead.pk)

    reaped = periodic_reap()  # every app's reaper, as settings.ANNOTUNE_REAPERS names them

    assert reaped["evaluation"]["evaluations_failed"] == [dead.pk]
    # Reaped once, by its app.
    assert not any(key.startswith("evaluations_") for app in ("training", "serving") for key in reaped[app])

    dead.refresh_from_db()
    assert dead.status == EvaluationStatus.FAILED
    assert dead.error_code == "worker_lost"
    assert "Create the evaluation again" in dead.error
    assert Evaluation.objects.get(pk=alive.pk).status == EvaluationStatus.RUNNING
    text = page(owner, f"/projects/{project.pk}/evaluations/{dead.pk}/")
    assert "worker_lost: the worker stopped" in text
    assert "generating the answers…" not in text  # not polling
    assert "shown once the owner closes" not in text


@pytest.mark.django_db
def test_a_queued_evaluation_whose_message_was_lost_is_sent_again_once(
    project, owner, make_adapter, adapter_dirs, django_capture_on_commit_callbacks
):
    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    purge_inference_queue()
    with django_capture_on_commit_callbacks(execute=False):  # its message never reaches the broker
        evaluation = evaluations.evaluation_create(
            project=project, user=owner, name="Lost", adapter_ids=[adapter.pk], prompts_text="Where is my parcel?"
        )
    assert evaluation.status == EvaluationStatus.QUEUED

    assert reap()["evaluations_resent"] == []  # too recent: its message may still be on the way
    Evaluation.objects.filter(pk=evaluation.pk).update(created_at=timezone.now() - timedelta(hours=1))
    try:
        assert reap()["evaluations_resent"] == [evaluation.pk]
        assert dispatch.waiting_messages("inference") == 1
        assert reap()["evaluations_resent"] == []  # its message waits in the queue: not sent twice
    finally:
        purge_inference_queue()
    assert Evaluation.objects.get(pk=evaluation.pk).status == EvaluationStatus.QUEUED


# -- a late finish from a worker the reaper took for dead -----------------------------------------
@pytest.mark.django_db
def test_a_late_evaluation_writes_no_answers_over_the_reapers_failure(project, owner, make_adapter, adapter_dirs):
    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    evaluation = evaluations.evaluation_create(
        project=project, user=owner, name="Late", adapter_ids=[adapter.pk], prompts_text="Hi\nWhere is my parcel?"
    )

    class StalledBackend:
        worker, inline = "stalled", False

        def answer(self, **kwargs):
            if Evaluation.objects.filter(pk=evaluation.pk, status=EvaluationStatus.RUNNING).exists():
                silent(evaluation.pk)  # stalled, e.g. on storage: the reaper fails it meanwhile
                assert evaluation.pk in reap_evaluations()["evaluations_failed"]
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
                Evaluation.objects.filter(pk=evaluation.pk, status="running")
                .values_list("heartbeat_at", flat=True)
                .first()
            ),
            timeout=120,
            interval=0.05,
            message="the worker to claim the evaluation",
        )
        wait_for(
            lambda: Evaluation.objects.filter(pk=evaluation.pk, status="running", heartbeat_at__gt=claimed).exists(),
            timeout=30,
            interval=0.1,
            message="the worker's heartbeat while it generates",
        )
        assert reap_evaluations()["evaluations_failed"] == []  # it beats: the reaper keeps it
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.RUNNING, "it finished before the kill: make it bigger"

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
