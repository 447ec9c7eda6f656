"""The background-work kernel (annotune/work.py): one claim, one fenced write, one reaper, shown on a
data-health run row (any work row behaves the same)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import ValidationRun
from annotation.tasks import run_validation
from annotune import work

pytestmark = pytest.mark.django_db


def test_one_claim_wins_and_its_writes_are_fenced_to_its_attempt(project, owner):
    run = ValidationRun.objects.create(project=project, created_by=owner)
    mine = work.claim(ValidationRun, run.pk, phase="loading")
    assert mine is not None
    assert work.claim(ValidationRun, run.pk) is None  # a second delivery of the message: nothing to do
    run.refresh_from_db()
    assert (run.status, run.attempts, run.phase) == ("running", 1, "loading")
    assert run.started_at is not None
    assert run.heartbeat_at is not None
    # The reaper took the row back and another worker claimed it: the first attempt's writes land nowhere.
    ValidationRun.objects.filter(pk=run.pk).update(status="queued")
    later = work.claim(ValidationRun, run.pk)
    assert mine.update(phase="late write from attempt 1") == 0
    assert later.update(phase="attempt 2") == 1
    run.refresh_from_db()
    assert (run.attempts, run.phase) == (2, "attempt 2")


def test_the_reaper_requeues_a_silent_row_then_fails_it_after_the_last_attempt(
    project, owner, settings, django_capture_on_commit_callbacks
):
    settings.ANNOTUNE_JOB_MAX_ATTEMPTS = 2
    run = ValidationRun.objects.create(project=project, created_by=owner)
    silent = timezone.now() - timedelta(seconds=600)

    def reap():
        return work.reap_stale(
            ValidationRun,
            task=run_validation,
            stale_after=60,
            what="validation run",
            requeued=lambda reason: {"phase": f"again: {reason}"},
            failed=lambda reason, limit: {"error": f"{reason}; gave up after {limit}"},
        )

    ValidationRun.objects.filter(pk=run.pk).update(status="running", attempts=1, heartbeat_at=silent)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert reap()["requeued"] == [run.pk]
    assert len(sent) == 1  # its task, sent once the re-queue committed
    run.refresh_from_db()
    assert run.status == "queued"
    assert run.phase == "again: The worker stopped reporting for 60 s on attempt 1"

    ValidationRun.objects.filter(pk=run.pk).update(status="running", attempts=2, heartbeat_at=silent)
    assert reap()["failed"] == [run.pk]
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == "The worker stopped reporting for 60 s on attempt 2; gave up after 2"
    assert run.finished_at is not None

    # A row that beats is left alone.
    alive = ValidationRun.objects.create(project=project, created_by=owner)
    ValidationRun.objects.filter(pk=alive.pk).update(status="running", attempts=1, heartbeat_at=timezone.now())
    assert reap()["requeued"] == []
    assert ValidationRun.objects.get(pk=alive.pk).status == "running"
