"""Generation requests written before they became work rows (serving 0003) get the `attempts` column: a
request a worker started counts its one claim, a queued one none, and a queued one is claimed as usual.

The database goes back to serving 0002, rows are written through that state's historical model, then
everything migrates forward (the pattern of tests/serving/test_migration_from_training.py)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from serving.models import GenerationRequest, GenerationStatus
from serving.services import generation

# Migrating changes the schema, which SQLite refuses inside the test's transaction.
from tests.migration_steps import historical_apps, latest, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("serving", "0002_method_dpo")]


def test_requests_written_before_the_attempts_column_count_their_claims():
    migrate(BEFORE)
    try:
        apps = historical_apps()
        assert "attempts" not in {f.name for f in apps.get_model("serving", "GenerationRequest")._meta.fields}
        owner = apps.get_model("auth", "User").objects.create(username="olivia", password="!")
        project = apps.get_model("annotation", "Project").objects.create(name="Billing bot", created_by=owner)
        base = apps.get_model("training", "BaseModel").objects.create(name="tiny", source="/nonexistent/tiny")
        requests = apps.get_model("serving", "GenerationRequest").objects
        fields = {"project": project, "base_model": base, "messages": [], "created_by": owner}
        answered = requests.create(
            **fields,
            status="succeeded",
            started_at=timezone.now(),
            finished_at=timezone.now(),
            outputs=[{"text": "Hi"}],
        )
        waiting = requests.create(**fields)
    finally:
        migrate(latest())

    answered_now = GenerationRequest.objects.get(pk=answered.pk)
    assert (answered_now.status, answered_now.attempts, answered_now.outputs) == ("succeeded", 1, [{"text": "Hi"}])
    assert answered_now.is_done
    waiting_now = GenerationRequest.objects.get(pk=waiting.pk)
    assert (waiting_now.status, waiting_now.attempts) == (GenerationStatus.QUEUED, 0)

    assert generation.generation_claim(waiting.pk, worker="w", capped=False).outcome == "claimed"
    assert GenerationRequest.objects.get(pk=waiting.pk).attempts == 1
