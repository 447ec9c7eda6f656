"""The playground's short poll: each state of a request (queued, partial, done, failed) as the page gets it,
answered at once, to members of the request's project only; a reload shows the answers so far."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.urls import reverse

from annotation.models import Role
from serving.models import GenerationRequest
from tests.factories import MembershipFactory, ProjectFactory
from training.models import BaseModel

pytestmark = pytest.mark.django_db

PARAMS = {"max_new_tokens": 32, "temperature": 0.0, "top_p": 1.0, "seed": 0}
TARGETS = [{"adapter_id": None, "label": "Base model"}, {"adapter_id": None, "label": "Second <b>look</b>"}]
DONE = {"adapter_id": None, "label": "Base model", "text": "It ships <b>Monday</b>.", "new_tokens": 8, "seconds": 0.5}


@pytest.fixture
def base(project):
    base = BaseModel.objects.create(name="real-ish", source="/models/x", architecture="LlamaForCausalLM",
                                    parameter_count=135_000_000)  # fmt: skip
    project.base_model = base
    project.save(update_fields=["base_model"])
    return base


@pytest.fixture
def request_row(project, owner, base):
    def make(**fields) -> GenerationRequest:
        row = GenerationRequest.objects.create(
            project=project,
            base_model=base,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is <i>it</i>?"}],
            targets=TARGETS,
            params=PARAMS,
            created_by=owner,
        )
        heartbeat = fields.pop("heartbeat_at", Now())
        if fields.get("status") in ("running", "succeeded", "failed"):
            fields.setdefault("started_at", Now() - timedelta(seconds=3))
            fields["heartbeat_at"] = heartbeat
        if fields.get("status") in ("succeeded", "failed"):
            fields.setdefault("finished_at", Now())
        GenerationRequest.objects.filter(pk=row.pk).update(**fields)
        row.refresh_from_db()
        return row

    return make


def poll(client, row):
    response = client.get(reverse("generation-partial", args=[row.project_id, row.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_queued_request_says_what_it_waits_for_and_keeps_polling(client_as, owner, request_row):
    ahead = request_row(status="running")
    row = request_row()
    html = poll(client_as(owner), row)
    assert "Queued" in html
    assert "Waiting for the inference worker: 1 request ahead." in html
    assert 'hx-trigger="load delay:1000ms"' in html
    assert f'hx-get="/projects/{row.project_id}/playground/{row.pk}/"' in html
    assert "data-elapsed=" in html  # the seconds count while it waits
    assert "<footer" not in html
    GenerationRequest.objects.filter(pk=ahead.pk).update(status="succeeded")
    html = poll(client_as(owner), row)
    assert "Waiting for the inference worker." in html
    assert "ahead" not in html


def test_queued_behind_training_or_an_evaluation_names_it(request_row):
    from serving.selectors.generations import generation_watch, queue_note

    watch = generation_watch(request_row())
    watch.training = 1
    assert queue_note(watch) == (
        "Waiting for the inference worker, which may be busy with training (1 training job running)."
    )
    watch.evaluations = 2
    assert queue_note(watch) == "Waiting for the inference worker: generating the answers of 2 evaluations."


def test_partial_answer_grows_in_place_with_the_elapsed_seconds(client_as, owner, request_row):
    partial = {**DONE, "text": "It ships <b>Mon", "new_tokens": 5, "seconds": 0.3, "partial": True}
    row = request_row(status="running", outputs=[partial])
    html = poll(client_as(owner), row)
    assert "Generating" in html
    assert "It ships &lt;b&gt;Mon" in html
    assert "<b>Mon" not in html
    assert "Writing… 5 tokens so far" in html
    assert "Second &lt;b&gt;look&lt;/b&gt;" in html
    assert "Next: the worker writes one answer at a time." in html
    assert 'hx-trigger="load delay:300ms"' in html
    assert 'class="generation-elapsed" data-elapsed="' in html
    assert "<footer" not in html  # no answer is complete yet (the journey test waits for footers)
    assert 'aria-busy="true"' in html


def test_running_before_any_text_says_it_is_starting(client_as, owner, request_row):
    html = poll(client_as(owner), request_row(status="running"))
    assert "Base model: starting" in html
    assert "Starting… (loading the model or the adapter, reading the prompt)" in html


def test_done_answers_show_tokens_per_second_and_stop_polling(client_as, owner, request_row):
    second = {**DONE, "label": TARGETS[1]["label"], "text": "Monday.", "new_tokens": 3, "seconds": 0.25}
    row = request_row(status="succeeded", outputs=[DONE, second])
    html = poll(client_as(owner), row)
    assert "Done" in html
    assert "8 tokens · 0.50 s · 16.0 tokens/s" in html
    assert "3 tokens · 0.25 s · 12.0 tokens/s" in html
    assert html.count("<footer") == 2
    assert "hx-get" not in html
    assert "data-elapsed" not in html  # the time is final: it no longer counts


def test_failed_request_ends_with_the_reason_and_the_text_so_far(client_as, owner, request_row):
    partial = {**DONE, "text": "It ships", "new_tokens": 2, "seconds": 0.1, "partial": True}
    row = request_row(
        status="failed",
        outputs=[partial],
        error_code="worker_lost",
        error="The worker stopped before it finished this answer. Send it again.",
    )
    html = poll(client_as(owner), row)
    assert "Failed" in html
    assert "The worker stopped before it finished this answer. Send it again." in html
    assert 'title="worker_lost"' in html  # the code only in a tooltip
    assert "It ships" in html
    assert "Stopped here: this answer was not finished (2 tokens)." in html
    assert "Not answered." in html
    assert "hx-get" not in html


def test_a_silent_worker_is_named_while_the_request_runs(client_as, owner, request_row):
    row = request_row(status="running", heartbeat_at=Now() - timedelta(seconds=40))
    html = poll(client_as(owner), row)
    assert "No word from the inference worker for 4" in html
    assert "hx-get" in html


def test_the_poll_answers_in_a_few_queries(client_as, owner, request_row, django_assert_max_num_queries):
    client = client_as(owner)
    partial = {**DONE, "partial": True}
    running, queued = request_row(status="running", outputs=[partial]), request_row()
    poll(client, running)  # the session is loaded once
    with django_assert_max_num_queries(4):  # session, user, project with role, the request
        poll(client, running)
    with django_assert_max_num_queries(7):  # ... and what is ahead of a queued one
        poll(client, queued)


def test_only_members_of_the_requests_project_may_read_it(client_as, owner, outsider, request_row):
    row = request_row(status="running", outputs=[{**DONE, "partial": True}])
    url = reverse("generation-partial", args=[row.project_id, row.pk])
    assert client_as(outsider).get(url).status_code == 404
    assert (
        client_as(outsider).get(reverse("playground", args=[row.project_id]) + f"?request={row.pk}").status_code == 404
    )
    # A member of another project, asking for this request through their own project.
    other = ProjectFactory(name="Other", created_by=outsider)
    MembershipFactory(project=other, user=outsider, role=Role.OWNER)
    foreign = reverse("generation-partial", args=[other.pk, row.pk])
    assert client_as(outsider).get(foreign).status_code == 404
    page = client_as(outsider).get(reverse("playground", args=[other.pk]) + f"?request={row.pk}")
    assert page.status_code == 404
    assert "It ships" not in page.content.decode()
    assert client_as(owner).get(url).status_code == 200


def test_sending_names_the_request_in_the_address_and_a_reload_shows_the_answers_so_far(
    client_as, owner, project, base
):
    client = client_as(owner)
    response = client.post(
        reverse("playground", args=[project.pk]),
        {"system": "Be brief.", "conversation": "User: Where is it?\nAssistant: Here.\nUser: And now?", "base": "1",
         "max_new_tokens": "20", "seed": "7"},
    )  # fmt: skip
    assert response.status_code == 200
    row = GenerationRequest.objects.get()
    assert response["HX-Push-Url"] == f"/projects/{project.pk}/playground/?request={row.pk}"
    assert "Queued" in response.content.decode()
    GenerationRequest.objects.filter(pk=row.pk).update(
        status="running", started_at=Now(), outputs=[{**DONE, "text": "Half", "partial": True}]
    )
    page = client.get(response["HX-Push-Url"]).content.decode()
    assert f'id="generation-{row.pk}"' in page
    assert "Half" in page
    assert "Writing…" in page
    assert "User: Where is it?\nAssistant: Here.\nUser: And now?</textarea>" in page
    assert '<textarea name="system" rows="2">Be brief.</textarea>' in page
    assert 'name="max_new_tokens" min="1" value="20"' in page
    assert 'name="base" value="1" checked' in page


def test_a_refused_request_is_answered_with_what_to_fix(client_as, owner, project, base):
    response = client_as(owner).post(reverse("playground", args=[project.pk]), {"conversation": "Hi"})
    assert response.status_code == 400
    assert "Choose the base model or at least one adapter." in response.content.decode()
    assert "HX-Push-Url" not in response
    assert not GenerationRequest.objects.exists()


def test_refusals_name_the_forms_fields_and_keep_codes_for_the_tooltip(client_as, owner, project, base):
    from annotune.errors import ApplicationError
    from serving.views.adapters import refusal_lines

    refusal = ApplicationError(
        "Adapter “Old” is archived: unarchive it to generate with it.",
        {
            "adapter": ["archived"],
            "seed": ["A whole number from 0 to 9."],
            "messages[1].content": ["This turn is empty."],
        },
    )
    assert refusal_lines(refusal) == {
        "lines": ["Seed: A whole number from 0 to 9.", "Turn 2: This turn is empty."],
        "codes": "adapter: archived",
    }
    response = client_as(owner).post(
        reverse("playground", args=[project.pk]), {"conversation": "User: Hi\nAssistant:  \nUser: Again", "base": "1"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Turn 2: This turn is empty" in html
    assert "messages[" not in html
