"""Drafting end to end on a real tiny model: the editor asks, the inference worker's task (run in this
process, as the playground's tests run it) answers through the serving backend with the project's active
adapter, the editor's poll reads the answer, and the save keeps the draft as the worker wrote it."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from annotation.models import ExampleDraft
from annotation.services import examples as example_services
from serving import tasks as inference_tasks
from serving.models import GenerationRequest, GenerationStatus
from tests.serving.adapter_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

QUESTION = [{"role": "user", "content": "Where is my parcel?"}]


def drafted_text(html: str) -> str:
    found = re.search(r'<script id="draft-text" type="application/json">(.*?)</script>', html, re.S)
    assert found, html
    return json.loads(found.group(1))


def test_the_active_adapter_drafts_on_the_worker_and_the_save_keeps_its_answer(
    client_as, project, annotator, make_adapter, adapter_dirs
):
    adapter = make_adapter("support-v2", adapter_dirs["a"], is_active=True)
    example = example_services.example_create(project=project, author=annotator, messages=QUESTION)
    client = client_as(annotator)
    started = client.post(
        reverse("example-draft-start", args=[project.pk, example.pk]),
        {"role": ["user", "assistant"], "content": [QUESTION[0]["content"], ""]},
    )
    assert started.status_code == 200
    row = GenerationRequest.objects.get()
    assert row.targets == [{"adapter_id": adapter.pk, "label": "support-v2"}]

    assert inference_tasks.generate_answers.run(row.pk) == "succeeded"

    row.refresh_from_db()
    assert row.status == GenerationStatus.SUCCEEDED, row.error
    answer = row.outputs[0]["text"]
    assert row.outputs[0]["new_tokens"] > 0
    polled = client.get(reverse("draft-poll", args=[project.pk, row.pk])).content.decode()
    assert "Drafted</span> by support-v2" in polled
    assert drafted_text(polled) == answer

    # The annotator keeps the answer as drafted (the page put it in the turn) and saves.
    saved = client.post(
        reverse("example-edit", args=[project.pk, example.pk]),
        {
            "role": ["user", "assistant"],
            "content": [QUESTION[0]["content"], answer if answer.strip() else "(empty draft)"],
            "version": "1",
            "action": "save",
            "draft_generation": str(row.pk),
        },
    )
    assert saved.status_code == 302, saved.content[:500]
    draft = ExampleDraft.objects.get()
    assert (draft.text, draft.adapter, draft.turn_index, draft.prompt) == (answer, adapter, 1, QUESTION)
    assert draft.base_model_name == "tiny-llama"
    page = client.get(reverse("example-edit", args=[project.pk, example.pk])).content.decode()
    assert "Drafted by support-v2 — " + ("unchanged" if answer.strip() else "edited") in page
