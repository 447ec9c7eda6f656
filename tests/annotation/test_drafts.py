"""Drafting an answer in the editor: who may ask, what is asked (the turns up to the last user turn, of the
project's active adapter or its base model), the caps, the editor's poll and cancel, and the draft kept
with the example when it is saved: its text always from the generation request the worker answered."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Now
from django.urls import reverse

from annotation.models import Example, ExampleDraft, ExampleStatus
from annotation.selectors import drafts as draft_selectors
from annotation.services import drafts
from annotation.services import examples as example_services
from annotune.errors import ApplicationError, TooManyRequestsError
from serving.models import Adapter, GenerationRequest, GenerationStatus
from tests.factories import ExampleFactory, ProjectFactory
from training.models import BaseModel

pytestmark = pytest.mark.django_db

QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "How do I reset my password?"}]
EMPTY_ANSWER = {"role": "assistant", "content": ""}
WORKER_TEXT = "Open Settings, then Security, then Reset password."


@pytest.fixture
def base(project):
    base = BaseModel.objects.create(name="smol-instruct", source="/models/x", architecture="LlamaForCausalLM")
    project.base_model = base
    project.save(update_fields=["base_model"])
    return base


@pytest.fixture
def active(project, base, owner):
    return Adapter.objects.create(
        project=project, base_model=base, name="support-v2", storage_path="adapters/x", is_active=True, created_by=owner
    )


@pytest.fixture
def example(project, annotator, base):
    """An annotator's saved example: the question, no answer yet."""
    return example_services.example_create(project=project, author=annotator, messages=QUESTION)


def answered(row: GenerationRequest, text: str = WORKER_TEXT, status: str = GenerationStatus.SUCCEEDED):
    """What the inference worker leaves on the row."""
    output = {**row.targets[0], "text": text, "new_tokens": 9, "seconds": 0.4, "finish_reason": "stop"}
    if status == GenerationStatus.RUNNING:
        output = {**row.targets[0], "text": text, "new_tokens": 3, "seconds": 0.1, "partial": True}
    GenerationRequest.objects.filter(pk=row.pk).update(
        status=status, outputs=[output], started_at=Now(), heartbeat_at=Now(), finished_at=Now()
    )
    row.refresh_from_db()
    return row


def form(turns, **extra):
    return {"role": [t["role"] for t in turns], "content": [t["content"] for t in turns], **extra}


# -- asking for a draft -----------------------------------------------------------------------------
def test_a_draft_asks_the_active_adapter_for_the_answer_after_the_last_user_turn(project, annotator, active, example):
    row = drafts.draft_request(project=project, user=annotator, messages=[*QUESTION, EMPTY_ANSWER], example=example)
    assert row.messages == QUESTION  # the empty answer is what the draft fills, not part of the prompt
    assert row.targets == [{"adapter_id": active.pk, "label": "support-v2"}]
    assert row.params == drafts.DRAFT_PARAMS
    assert (row.status, row.created_by, row.base_model) == (GenerationStatus.QUEUED, annotator, active.base_model)


def test_without_an_active_adapter_the_base_model_drafts(project, annotator, base):
    row = drafts.draft_request(project=project, user=annotator, messages=QUESTION)
    assert row.targets == [{"adapter_id": None, "label": "Base model"}]
    assert draft_selectors.drafter(project) == "base model “smol-instruct”"


@pytest.mark.parametrize(
    ("turns", "says"),
    [
        ([{"role": "user", "content": "  "}, EMPTY_ANSWER], "Write the user's turn first"),
        ([{"role": "system", "content": "Be brief."}], "Write the user's turn first"),
        ([*QUESTION, {"role": "assistant", "content": "My own start"}], "a draft never replaces what you wrote"),
    ],
)
def test_a_draft_that_would_answer_nothing_or_overwrite_the_annotators_text_is_refused(
    project, annotator, base, turns, says
):
    with pytest.raises(ApplicationError, match=says):
        drafts.draft_request(project=project, user=annotator, messages=turns)
    assert not GenerationRequest.objects.exists()


def test_only_who_may_edit_the_example_drafts_for_it(project, annotator2, reviewer, owner, example):
    for member in (annotator2, reviewer):  # members who may read it, not edit it
        with pytest.raises(PermissionDenied):
            drafts.draft_request(project=project, user=member, messages=QUESTION, example=example)
    assert not GenerationRequest.objects.exists()
    assert drafts.draft_request(project=project, user=owner, messages=QUESTION, example=example).created_by == owner


def test_a_submitted_example_is_not_drafted_for(project, annotator, example):
    Example.objects.filter(pk=example.pk).update(status=ExampleStatus.SUBMITTED)
    example.refresh_from_db()
    with pytest.raises(ApplicationError, match="submitted; it can't be edited now"):
        drafts.draft_request(project=project, user=annotator, messages=QUESTION, example=example)


def test_a_draft_counts_against_the_users_generation_caps(settings, project, annotator, base):
    settings.ANNOTUNE_GENERATE_QUEUED_PER_USER = 1
    drafts.draft_request(project=project, user=annotator, messages=QUESTION)
    with pytest.raises(TooManyRequestsError, match="waiting for the inference worker"):
        drafts.draft_request(project=project, user=annotator, messages=QUESTION)
    assert GenerationRequest.objects.count() == 1


# -- keeping the draft with the example -------------------------------------------------------------
def test_the_kept_draft_is_the_workers_text_never_the_pages(client_as, project, annotator, active, example):
    row = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION, example=example))
    client = client_as(annotator)
    edited = [*QUESTION, {"role": "assistant", "content": "Open Settings > Security > Reset password."}]
    # The page could send anything as text; only the id names the draft, and it is the user's own answered one.
    response = client.post(
        reverse("example-edit", args=[project.pk, example.pk]),
        form(edited, version="1", action="save", draft_generation=str(row.pk), draft_text="forged"),
    )
    assert response.status_code == 302, response.content[:500]
    draft = ExampleDraft.objects.get()
    assert (draft.example, draft.turn_index, draft.prompt, draft.text) == (example, 2, QUESTION, WORKER_TEXT)
    assert (draft.adapter, draft.adapter_name, draft.base_model_name) == (active, "support-v2", "smol-instruct")
    assert (draft.requested_by, draft.generation, draft.finish_reason) == (annotator, row, "stop")
    assert draft.params == drafts.DRAFT_PARAMS
    page = client.get(reverse("example-edit", args=[project.pk, example.pk])).content.decode()
    assert "Drafted by support-v2 — edited" in page
    # Kept once: saving again with the same id (a page re-sent after a refusal) adds nothing.
    example.refresh_from_db()
    assert drafts.draft_keep(example=example, user=annotator, generation_id=row.pk) == draft
    assert ExampleDraft.objects.count() == 1


def test_an_answer_kept_as_drafted_is_unchanged_and_deleting_the_adapter_keeps_its_name(
    client_as, project, annotator, active
):
    row = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION))
    response = client_as(annotator).post(
        reverse("example-create", args=[project.pk]),
        form([*QUESTION, {"role": "assistant", "content": WORKER_TEXT}], action="save", draft_generation=str(row.pk)),
    )
    assert response.status_code == 302, response.content[:500]
    example = Example.objects.get()
    active.delete()
    assert str(draft_selectors.draft_notes(example)[2]) == "Drafted by support-v2 — unchanged"
    assert ExampleDraft.objects.get().adapter is None


def test_a_draft_not_the_users_own_answered_one_for_this_prompt_is_not_kept(
    project, annotator, owner, base, example, reviewer
):
    mine = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION, example=example))
    theirs = answered(drafts.draft_request(project=project, user=reviewer, messages=QUESTION))
    running = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION), status="running")
    other_project = ProjectFactory(base_model=base)
    elsewhere = GenerationRequest.objects.create(
        project=other_project, base_model=base, messages=QUESTION, targets=mine.targets, created_by=annotator
    )
    answered(elsewhere)
    example_services.example_update(
        example=example, user=annotator, version=1, messages=[*QUESTION, {"role": "assistant", "content": "Mine."}]
    )
    for generation_id, says in [
        (theirs.pk, "That draft is unknown."),
        (elsewhere.pk, "That draft is unknown."),
        ("9" * 30, "That draft is unknown."),
        ("nope", "That draft is unknown."),
        (running.pk, "was not finished"),
    ]:
        with pytest.raises(ApplicationError, match=says):
            drafts.draft_keep(example=example, user=annotator, generation_id=generation_id)
    # The question changed after drafting: the draft no longer answers what the example asks.
    example_services.example_update(
        example=example,
        user=annotator,
        version=2,
        messages=[
            QUESTION[0],
            {"role": "user", "content": "How do I delete my account?"},
            {"role": "assistant", "content": "Mine."},
        ],
    )
    assert drafts.drafts_keep(example=example, user=annotator, generation_ids=[str(mine.pk)]) == [
        "The model's draft was not kept with the example: the conversation before the answer changed after it "
        "was drafted."
    ]
    assert not ExampleDraft.objects.exists()


def test_a_save_whose_draft_cannot_be_kept_still_saves_and_says_why(client_as, project, annotator, base, example):
    running = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION), status="running")
    response = client_as(annotator).post(
        reverse("example-edit", args=[project.pk, example.pk]),
        form(
            [*QUESTION, {"role": "assistant", "content": "Mine."}],
            version="1",
            action="save",
            draft_generation=str(running.pk),
        ),
        follow=True,
    )
    assert response.status_code == 200
    assert "Saved (version 2)." in response.content.decode()
    assert "That draft was not finished, so it was not kept." in response.content.decode()
    assert not ExampleDraft.objects.exists()


def test_a_refused_save_keeps_the_draft_id_for_the_next_save(client_as, project, annotator, base, example):
    row = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION, example=example))
    url = reverse("example-edit", args=[project.pk, example.pk])
    turns = [*QUESTION, {"role": "assistant", "content": WORKER_TEXT}]
    response = client_as(annotator).post(url, form(turns, version="7", action="save", draft_generation=str(row.pk)))
    assert response.status_code == 409
    assert f'name="draft_generation" value="{row.pk}"' in response.content.decode()
    assert not ExampleDraft.objects.exists()


def test_the_note_says_when_the_question_changed_since_the_draft(project, annotator, base, example):
    row = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION, example=example))
    example_services.example_update(
        example=example, user=annotator, version=1, messages=[*QUESTION, {"role": "assistant", "content": WORKER_TEXT}]
    )
    drafts.draft_keep(example=example, user=annotator, generation_id=row.pk)
    changed = [
        QUESTION[0],
        {"role": "user", "content": "Something else?"},
        {"role": "assistant", "content": WORKER_TEXT},
    ]
    assert str(draft_selectors.draft_notes(example, changed)[2]) == "Drafted by Base model — question changed"
    assert draft_selectors.draft_notes(example)[2].state == "unchanged"


# -- the editor's endpoints -------------------------------------------------------------------------
def test_the_editor_offers_drafting_with_the_projects_model(client_as, project, annotator, active, example):
    page = client_as(annotator).get(reverse("example-edit", args=[project.pk, example.pk])).content.decode()
    assert ">Draft answer</button>" in page
    assert "with the adapter “support-v2”" in page
    assert f'hx-post="/projects/{project.pk}/examples/{example.pk}/draft/"' in page
    new = client_as(annotator).get(reverse("example-create", args=[project.pk])).content.decode()
    assert f'hx-post="/projects/{project.pk}/examples/draft/"' in new


def test_without_a_base_model_the_editor_says_nothing_can_draft(client_as, project, annotator):
    page = client_as(annotator).get(reverse("example-create", args=[project.pk])).content.decode()
    assert "Draft answer" not in page
    assert "No model to draft answers with: the project has no base model yet." in page


def test_draft_start_queues_and_answers_with_a_poll_of_the_draft(client_as, project, annotator, base, example):
    url = reverse("example-draft-start", args=[project.pk, example.pk])
    response = client_as(annotator).post(url, form([*QUESTION, EMPTY_ANSWER]))
    assert response.status_code == 200
    row = GenerationRequest.objects.get()
    html = response.content.decode()
    assert f'data-turn="2" data-generation="{row.pk}"' in html
    assert f'hx-get="/projects/{project.pk}/examples/drafts/{row.pk}/"' in html
    assert "Cancel drafting" in html
    assert 'type="application/json">""</script>' in html


def test_draft_start_refusals_outsider_404_reader_403_bad_input_400_cap_429(
    client_as, settings, project, annotator, annotator2, outsider, base, example
):
    url = reverse("example-draft-start", args=[project.pk, example.pk])
    body = form([*QUESTION, EMPTY_ANSWER])
    assert client_as(outsider).post(url, body).status_code == 404
    assert client_as(outsider).post(reverse("draft-start", args=[project.pk]), body).status_code == 404
    assert client_as(annotator2).post(url, body).status_code == 403
    other = ExampleFactory(project=ProjectFactory(), author=outsider)  # an example of another project
    assert (
        client_as(annotator).post(reverse("example-draft-start", args=[project.pk, other.pk]), body).status_code == 404
    )
    assert client_as(annotator).get(url).status_code == 405
    refused = client_as(annotator).post(url, form([*QUESTION, {"role": "assistant", "content": "Typed."}]))
    assert refused.status_code == 400
    assert "a draft never replaces what you wrote" in refused.content.decode()
    assert not GenerationRequest.objects.exists()
    settings.ANNOTUNE_GENERATE_QUEUED_PER_USER = 1
    assert client_as(annotator).post(url, body).status_code == 200
    capped = client_as(annotator).post(url, body)
    assert capped.status_code == 429
    assert capped["Retry-After"] == "10"
    assert "You already have 1 request waiting for the inference worker" in capped.content.decode()
    assert GenerationRequest.objects.count() == 1


def test_the_poll_shows_the_text_so_far_then_the_finished_draft(client_as, project, annotator, active, example):
    row = drafts.draft_request(project=project, user=annotator, messages=QUESTION, example=example)
    poll = reverse("draft-poll", args=[project.pk, row.pk])
    answered(row, "Open Sett", status="running")
    html = client_as(annotator).get(poll).content.decode()
    assert "support-v2 is writing the answer…" in html
    assert 'type="application/json">"Open Sett"</script>' in html
    assert 'hx-trigger="load delay:300ms"' in html
    answered(row)
    html = client_as(annotator).get(poll).content.decode()
    assert "Drafted</span> by support-v2" in html
    assert f'type="application/json">"{WORKER_TEXT}"</script>' in html
    assert "hx-get" not in html  # done: polling stops


def test_only_the_one_who_asked_sees_or_cancels_a_draft(client_as, project, annotator, annotator2, outsider, base):
    row = drafts.draft_request(project=project, user=annotator, messages=QUESTION)
    for user, status in ((annotator2, 404), (outsider, 404)):
        assert client_as(user).get(reverse("draft-poll", args=[project.pk, row.pk])).status_code == status
        assert client_as(user).post(reverse("draft-cancel", args=[project.pk, row.pk])).status_code == status
    row.refresh_from_db()
    assert row.status == GenerationStatus.QUEUED


def test_cancelling_stops_the_draft_and_says_the_text_stays(client_as, project, annotator, base):
    row = answered(drafts.draft_request(project=project, user=annotator, messages=QUESTION), "Open", status="running")
    response = client_as(annotator).post(reverse("draft-cancel", args=[project.pk, row.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cancelled" in html
    assert "You cancelled this draft; the text so far stays in the answer for you to edit." in html
    assert 'type="application/json">"Open"</script>' in html
    row.refresh_from_db()
    assert (row.status, row.error_code) == (GenerationStatus.CANCELLED, "cancelled")


def test_a_draft_nobody_takes_says_no_worker_is_running(client_as, project, annotator, base):
    row = drafts.draft_request(project=project, user=annotator, messages=QUESTION)
    poll = reverse("draft-poll", args=[project.pk, row.pk])
    assert "Waiting for the inference worker." in client_as(annotator).get(poll).content.decode()
    GenerationRequest.objects.filter(pk=row.pk).update(created_at=Now() - timedelta(seconds=20))
    html = client_as(annotator).get(poll).content.decode()
    assert "No inference worker is running, it seems" in html
    assert 'hx-trigger="load delay:1000ms"' in html  # still waiting: a worker started now takes it


def test_failures_say_what_happened_in_plain_words(client_as, project, annotator, base):
    row = drafts.draft_request(project=project, user=annotator, messages=QUESTION)
    GenerationRequest.objects.filter(pk=row.pk).update(
        status=GenerationStatus.FAILED, error_code="adapter_deleted", error="Adapter “support-v2” was deleted."
    )
    html = unescape(client_as(annotator).get(reverse("draft-poll", args=[project.pk, row.pk])).content.decode())
    assert "Adapter “support-v2” was deleted. Draft again: the project's model as it is now will answer." in html
    GenerationRequest.objects.filter(pk=row.pk).update(error_code="internal", error="RuntimeError: /srv/models/x")
    html = client_as(annotator).get(reverse("draft-poll", args=[project.pk, row.pk])).content.decode()
    assert "The inference worker failed while answering." in html
    assert "/srv/models" not in html
