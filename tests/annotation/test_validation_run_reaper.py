"""The data-health runs' reaper: a run whose worker died is run again and stores one report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import ValidationRun
from annotation.services import validation_runs

pytestmark = pytest.mark.django_db


def running(project, owner, *, attempts: int, silent_for: float) -> ValidationRun:
    run = ValidationRun.objects.create(project=project, created_by=owner)
    beat = timezone.now() - timedelta(seconds=silent_for)
    ValidationRun.objects.filter(pk=run.pk).update(
        status="running", attempts=attempts, heartbeat_at=beat, started_at=beat
    )
    return run


def test_a_silent_run_is_queued_again_and_then_succeeds(project, owner, settings, django_capture_on_commit_callbacks):
    settings.ANNOTUNE_VALIDATION_STALE_SECONDS = 60
    silent = running(project, owner, attempts=1, silent_for=120)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert validation_runs.reap_runs()["requeued"] == [silent.pk]
    assert len(sent) == 1
    silent.refresh_from_db()
    assert silent.status == "queued"
    assert "stopped reporting" in silent.phase
    validation_runs.run_execute(silent.pk)  # the message the reaper sent
    validation_runs.run_execute(silent.pk)  # a redelivery of the first: a no-op
    silent.refresh_from_db()
    assert (silent.status, silent.attempts) == ("succeeded", 2)
    assert silent.report["summary"]


def test_a_beating_run_is_left_alone_and_the_last_attempt_fails(project, owner, settings):
    settings.ANNOTUNE_VALIDATION_STALE_SECONDS = 60
    settings.ANNOTUNE_JOB_MAX_ATTEMPTS = 3
    beating = running(project, owner, attempts=1, silent_for=5)
    last = running(project, owner, attempts=3, silent_for=120)
    reaped = validation_runs.reap_runs()
    assert (reaped["requeued"], reaped["failed"]) == ([], [last.pk])
    assert ValidationRun.objects.get(pk=beating.pk).status == "running"
    last.refresh_from_db()
    assert last.status == "failed"
    assert "Start the run again" in last.error


def test_a_superseded_attempt_does_not_store_its_report(project, owner, monkeypatch):
    run = ValidationRun.objects.create(project=project, created_by=owner)
    report = validation_runs.dataset_report

    def taken_over_meanwhile(*args, **kwargs):
        ValidationRun.objects.filter(pk=run.pk).update(attempts=2)  # re-queued and claimed elsewhere
        return report(*args, **kwargs)

    monkeypatch.setattr(validation_runs, "dataset_report", taken_over_meanwhile)
    validation_runs.run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.report) == ("running", {})


def test_a_superseded_attempt_does_not_write_its_progress_on_the_later_run(project, owner, monkeypatch):
    run = ValidationRun.objects.create(project=project, created_by=owner)
    pool = validation_runs._pool

    def finished_elsewhere_meanwhile(*args, **kwargs):
        # Re-queued, claimed and finished by another worker while this one was loading the examples.
        ValidationRun.objects.filter(pk=run.pk).update(status="succeeded", attempts=2, progress=1.0, phase="done")
        return pool(*args, **kwargs)

    monkeypatch.setattr(validation_runs, "_pool", finished_elsewhere_meanwhile)
    validation_runs.run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.progress, run.phase) == ("succeeded", 2, 1.0, "done")
