"""A generation request's final state is final: a worker that answers after the reaper failed it changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from serving.models import GenerationRequest
from serving.services import generation
from serving.services.reaper import reap_generations
from tests.serving.scripted_backend import Scripted, finished

pytestmark = pytest.mark.django_db


def test_an_answer_after_the_reaper_failed_the_request_is_not_stored(project, owner, fake_base_model, settings):
    settings.ANNOTUNE_GENERATE_STALE_SECONDS = 60
    row = GenerationRequest.objects.create(
        project=project,
        base_model=fake_base_model,
        messages=[{"role": "user", "content": "Hi"}],
        targets=[{"adapter_id": None, "label": "Base model"}],
        created_by=owner,
    )

    def slow_answer(report):
        # The worker is slow; meanwhile the reaper gives up on it (the started time is long past).
        GenerationRequest.objects.filter(pk=row.pk).update(started_at=timezone.now() - timedelta(hours=1))
        assert reap_generations()["stale"] == [row.pk]
        return finished("Hello!")

    assert generation.generation_execute(row.pk, Scripted(slow_answer)) == "cancelled"
    row.refresh_from_db()
    assert (row.status, row.error_code, row.outputs) == ("failed", "worker_lost", [])
