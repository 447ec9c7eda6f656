"""Blind evaluations written before they became work rows (evaluation 0002) keep their state: "generating"
is stored as the work row's "running" (shown as "Generating answers"), `generated_at` is `finished_at`, and
an evaluation a worker took counts its one claim. Migrating back restores "generating".

The database goes back to evaluation 0001, rows are written through that state's historical model, then
everything migrates forward (the pattern of tests/serving/test_migration_from_training.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation.models import Evaluation, EvaluationStatus
from evaluation.services.reaper import reap_evaluations

# Migrating changes the schema, which SQLite refuses inside the test's transaction.
from tests.migration_steps import historical_apps, latest, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("evaluation", "0001_initial")]


def test_evaluations_written_before_the_work_row_keep_their_state():
    generated = timezone.now() - timedelta(days=1)
    beat = timezone.now() - timedelta(hours=1)  # its worker died an hour ago
    migrate(BEFORE)
    try:
        apps = historical_apps()
        owner = apps.get_model("auth", "User").objects.create(username="olivia", password="!")
        project = apps.get_model("annotation", "Project").objects.create(name="Billing bot", created_by=owner)
        base = apps.get_model("training", "BaseModel").objects.create(name="tiny", source="/nonexistent/tiny")
        evaluations = apps.get_model("evaluation", "Evaluation").objects
        fields = {"project": project, "base_model": base, "prompt_source": "pasted", "created_by": owner}
        generating = evaluations.create(**fields, name="Generating", status="generating", heartbeat_at=beat)
        opened = evaluations.create(
            **fields, name="Open", status="open", heartbeat_at=generated, generated_at=generated
        )
        queued = evaluations.create(**fields, name="Queued")
    finally:
        migrate(latest())

    running = Evaluation.objects.get(pk=generating.pk)
    assert (running.status, running.attempts, running.heartbeat_at) == (EvaluationStatus.RUNNING, 1, beat)
    assert running.get_status_display() == "Generating answers"
    assert running.is_active
    assert not running.is_done
    still_open = Evaluation.objects.get(pk=opened.pk)
    assert (still_open.status, still_open.attempts, still_open.finished_at) == (EvaluationStatus.OPEN, 1, generated)
    assert still_open.is_done
    assert not still_open.is_active
    waiting = Evaluation.objects.get(pk=queued.pk)
    assert (waiting.status, waiting.attempts) == (EvaluationStatus.QUEUED, 0)

    # Migrating back stores "generating" again.
    migrate(BEFORE)
    try:
        rows = historical_apps().get_model("evaluation", "Evaluation").objects
        assert rows.get(pk=generating.pk).status == "generating"
        assert rows.get(pk=opened.pk).generated_at == generated
    finally:
        migrate(latest())

    # The one whose worker died while generating is failed by the reaper, as a running work row.
    assert reap_evaluations()["evaluations_failed"] == [generating.pk]
    assert Evaluation.objects.get(pk=generating.pk).error_code == "worker_lost"
