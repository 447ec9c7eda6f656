"""The project's preference export: corrected drafts and blind evaluations' judgments, each row labelled by
its origin, in TRL's conversational DPO format; owners only."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from annotation.services import reviews
from evaluation.selectors import evaluations as selectors
from evaluation.services import evaluations as services
from serving.inference.outputs import Answer
from tests.annotation.draft_helpers import DRAFT, QUESTION, drafted_example, drafting_adapter
from tests.evaluation.preference_check import trl_check

pytestmark = pytest.mark.django_db

FIXED = "Open Settings › Security › Reset password; a link arrives by email."


class EchoBackend:
    """Answers an evaluation's prompts without a model (the export, not generation, is under test)."""

    worker, inline = "echo", False

    def answer(self, *, base_model, adapter, messages, decoding, **kwargs):
        text = f"{adapter.name if adapter else 'plain'} answers {messages[-1]['content']}"
        return Answer(text=text, prompt_tokens=3, completion_tokens=4, finish_reason="stop", seconds=0.0)


@pytest.fixture
def preferences(project, owner, annotator, reviewer):
    """Two corrected drafts, one kept unchanged, and a blind evaluation with a decisive judgment and a tie."""
    adapter = drafting_adapter(project, owner)
    second_prompt = [{"role": "user", "content": "Where is my parcel?"}]
    for answer, prompt in ((FIXED, QUESTION), (DRAFT, QUESTION), ("Track it under Orders.", second_prompt)):
        reviews.review_approve(example=drafted_example(project, annotator, answer, prompt=prompt), reviewer=reviewer)
    evaluation = services.evaluation_create(
        project=project,
        user=owner,
        name="Round one",
        adapter_ids=[adapter.pk],
        prompts_text="Where is my parcel?\n\nHello?\n",
        max_new_tokens=16,
    )
    assert services.evaluation_generate(evaluation.pk, EchoBackend()) == "succeeded"
    evaluation.refresh_from_db()
    for verdict in ("1", "t"):  # one prompt, base against the adapter: two items
        item = selectors.queue_next(evaluation, reviewer)
        services.judgment_submit(evaluation=evaluation, item_id=item.id, user=reviewer, verdict=verdict)
    return evaluation


def rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jsonl"
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_the_export_holds_corrected_drafts_and_judgments_labelled_by_origin(client_as, project, owner, preferences):
    found = rows(client_as(owner).get(reverse("project-preferences", args=[project.pk])))
    corrections = [r for r in found if r["origin"] == "draft_correction"]
    judgments = [r for r in found if r["origin"] == "blind_evaluation"]
    assert len(found) == 3  # the unchanged draft and the tie are no preference
    assert [r["chosen"][0]["content"] for r in corrections] == [FIXED, "Track it under Orders."]
    assert corrections[0] == {
        "prompt": QUESTION,
        "chosen": [{"role": "assistant", "content": FIXED}],
        "rejected": [{"role": "assistant", "content": DRAFT}],
        "origin": "draft_correction",
    }
    assert len(judgments) == 1
    assert judgments[0]["chosen"][0]["content"].endswith("answers " + judgments[0]["prompt"][-1]["content"])
    assert all(r["prompt"][-1]["role"] == "user" for r in found)
    only = rows(client_as(owner).get(reverse("project-preferences", args=[project.pk]), {"origin": "draft_correction"}))
    assert only == corrections


def test_the_export_loads_in_datasets_and_passes_trls_dpo_preparation(client_as, project, owner, preferences, tmp_path):
    response = client_as(owner).get(reverse("project-preferences", args=[project.pk]))
    path = tmp_path / "preferences.jsonl"
    path.write_bytes(b"".join(response.streaming_content))
    from datasets import load_dataset

    data = load_dataset("json", data_files=str(path), split="train")
    assert set(data.column_names) == {"prompt", "chosen", "rejected", "origin"}
    assert set(data["origin"]) == {"draft_correction", "blind_evaluation"}
    n = len(data)
    assert trl_check(path, tmp_path) == {"rows": n, "conversational": n, "rendered": n, "tokenized": n}


def test_the_api_gives_the_same_rows(api, project, owner, preferences):
    response = api(owner).get(f"/api/v1/projects/{project.pk}/preferences/", {"origin": "blind_evaluation"})
    found = rows(response)
    assert [r["origin"] for r in found] == ["blind_evaluation"]
    assert 'filename="project-' in response["Content-Disposition"]


def test_an_unknown_origin_is_refused_with_what_to_send(client_as, api, project, owner):
    page = client_as(owner).get(reverse("project-preferences", args=[project.pk]), {"origin": "vibes"})
    assert page.status_code == 400
    assert "Unknown preference origin" in page.content.decode()
    response = api(owner).get(f"/api/v1/projects/{project.pk}/preferences/", {"origin": "vibes"})
    assert response.status_code == 400
    assert "draft_correction" in json.dumps(response.json())


def test_only_owners_export_and_outsiders_learn_nothing(client_as, api, project, annotator, reviewer, outsider):
    url = reverse("project-preferences", args=[project.pk])
    api_url = f"/api/v1/projects/{project.pk}/preferences/"
    for user, code in ((annotator, 403), (reviewer, 403), (outsider, 404)):
        assert client_as(user).get(url).status_code == code
        assert api(user).get(api_url).status_code == code
    assert api(None).get(api_url).status_code in (401, 403)


def test_owners_find_the_export_on_the_evaluations_page(client_as, project, owner, reviewer):
    link = reverse("project-preferences", args=[project.pk])
    assert link in client_as(owner).get(reverse("evaluation-list", args=[project.pk])).content.decode()
    assert link not in client_as(reviewer).get(reverse("evaluation-list", args=[project.pk])).content.decode()
