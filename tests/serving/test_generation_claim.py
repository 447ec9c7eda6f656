"""A generation request is a work row (annotune/work.py): the worker's claim counts the attempt, and every
write of that worker goes through the row fenced to it, so a worker the reaper took for dead writes nothing
over the reaper's failure. A request is never queued again (serving/services/reaper.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from serving.inference.outputs import Answer, answer_output
from serving.models import GenerationRequest, GenerationStatus
from serving.services import generation
from serving.services.reaper import reap_generations
from training.models import BaseModel

pytestmark = pytest.mark.django_db

TARGET = {"adapter_id": None, "label": "Base model"}


@pytest.fixture
def queued(project, owner):
    base = BaseModel.objects.create(name="nowhere", source="/nonexistent/model")
    return GenerationRequest.objects.create(
        project=project,
        base_model=base,
        messages=[{"role": "user", "content": "Hi"}],
        targets=[TARGET],
        created_by=owner,
    )


def test_a_claim_counts_the_attempt_and_wins_once(queued):
    assert queued.attempts == 0

    claim = generation.generation_claim(queued.pk, worker="inference@host")

    assert claim.outcome == "claimed"
    assert claim.mine is not None
    assert list(claim.mine.values_list("pk", flat=True)) == [queued.pk]  # fenced to this attempt
    queued.refresh_from_db()
    assert (queued.status, queued.attempts, queued.worker) == (GenerationStatus.RUNNING, 1, "inference@host")
    assert queued.started_at is not None
    assert queued.heartbeat_at is not None
    assert queued.is_active
    assert not queued.is_done
    # A second delivery of its message: nothing to take, and the attempt is not counted again.
    again = generation.generation_claim(queued.pk, worker="inference@other")
    assert (again.outcome, again.mine) == ("skipped", None)
    queued.refresh_from_db()
    assert (queued.attempts, queued.worker) == (1, "inference@host")


def test_a_late_finish_of_a_request_the_reaper_failed_does_not_land(queued, settings):
    mine = generation.generation_claim(queued.pk, worker="slow@host").mine
    publisher = generation.AnswerPublisher(queued.pk, mine)
    publisher.start(TARGET)
    publisher.report("Hel", 1)  # published while the row is this worker's
    assert GenerationRequest.objects.get(pk=queued.pk).outputs[0]["text"] == "Hel"

    # The worker stalls; its heartbeat goes silent and the reaper fails the request.
    mine.update(heartbeat_at=timezone.now() - timedelta(seconds=settings.ANNOTUNE_GENERATE_SILENT_SECONDS + 60))
    assert reap_generations()["stale"] == [queued.pk]

    publisher.report("Hello", 2)
    assert publisher.stopped  # its write found the row no longer its own: it stops generating
    answer = Answer(text="Hello!", prompt_tokens=3, completion_tokens=2, finish_reason="stop", seconds=0.1)
    assert not generation.generation_finish(mine, GenerationStatus.SUCCEEDED, [answer_output(TARGET, answer)])

    queued.refresh_from_db()
    assert (queued.status, queued.error_code, queued.attempts) == (GenerationStatus.FAILED, "worker_lost", 1)
    assert queued.outputs[0]["text"] == "Hel"  # what was published before the reaper, nothing after
    assert reap_generations()["stale"] == []  # failed once
