""" "Draft all" through a real Celery worker on the `inference` queue (as `make run` starts one): the owner
starts it on the page, the worker drafts every waiting example with a tiny random model, and the page
follows it to the end."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.models import DraftBatch, Example, ExampleDraft
from annotation.services import examples as example_services
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_inference_worker_drafts_every_waiting_example(
    client_as, project, owner, annotator, make_adapter, adapter_dirs, storage
):
    make_adapter("support-v2", adapter_dirs["a"], is_active=True)
    for n in range(3):
        example_services.example_create(
            project=project, author=annotator, messages=[{"role": "user", "content": f"Where is parcel {n}?"}]
        )
    client = client_as(owner)
    with celery_worker("inference", env={"ANNOTUNE_STORAGE_ROOT": str(storage)}):
        response = client.post(reverse("draft-batch-start", args=[project.pk]))
        batch = DraftBatch.objects.get()
        assert response["Location"] == reverse("draft-batch", args=[project.pk, batch.pk])
        wait_for(lambda: DraftBatch.objects.get().is_done, timeout=240, message="the draft batch")
    batch.refresh_from_db()
    assert batch.status == "succeeded", batch.error
    assert (batch.attempts, batch.done + batch.failed, batch.total) == (1, 3, 3)
    assert batch.heartbeat_at is not None
    assert ExampleDraft.objects.filter(batch=batch).count() == batch.done >= 1
    for draft in ExampleDraft.objects.filter(batch=batch).select_related("example"):
        assert draft.example.messages[1] == {"role": "assistant", "content": draft.text}
        assert draft.adapter_name == "support-v2"
    assert sum(e.awaits_answer for e in Example.objects.all()) == batch.failed
    page = client.get(reverse("draft-batch", args=[project.pk, batch.pk])).content.decode()
    assert f"{batch.done} of 3 drafted" in page
    assert "Done." in page
