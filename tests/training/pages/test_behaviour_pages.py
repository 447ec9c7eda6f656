"""The behavioural evaluation on the job, adapter and compare pages, the model card and the API, from a real
tiny run's result stored by the worker's real writer; the notes on figures from too few examples; the
blind evaluation form filled from the adapter's prompts."""

from __future__ import annotations

import re

import pytest
from django.utils.html import escape

from serving.models import Adapter
from training.engine import results
from training.models import JobStatus, TrainingJob

from .conftest import FOLLOW_UP, SYSTEM

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SIGNOFF = "— The <Acme> team"
HEADING = "What the adapter learned: the project's checks on generated answers"


def text(response) -> str:
    assert response.status_code == 200, response.content[:2000]
    return response.content.decode()


@pytest.fixture
def styled_adapter(project, make_job, store, engine_runs) -> Adapter:
    """A real tiny run stored after the project stated a house sign-off (the tiny model never writes it)."""
    project.style_rules = {"signoff": SIGNOFF}
    project.save()
    job = store(make_job(), engine_runs["succeeded"])
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail)
    return Adapter.objects.get(job=job)


def test_the_writer_stores_the_checks_on_every_answer(styled_adapter):
    report = results.behaviour_report(styled_adapter.behaviour)
    assert report is not None
    validation = [p for p in report["prompts"] if p["split"] == "validation"]
    control = [p for p in report["prompts"] if p["split"] == "control"]
    assert len(validation) == 2  # the 2 examples the engine held out (8 examples, eval_fraction 0.25)
    assert len(control) == 6
    assert [m["role"] for m in validation[0]["prompt"]] == ["system", "user", "assistant", "user"]
    for p in report["prompts"]:
        # Random weights never sign off: the stated rule fails for base and adapter alike.
        assert "style.signoff" in p["base_failed"]
        assert "style.signoff" in p["adapter_failed"]
    rates = {c["code"]: c for c in report["checks"]}
    assert rates["style.signoff"] == {
        "code": "style.signoff",
        "label": "Answer does not end with the house sign-off",
        "n": 2,
        "base_passed": 0,
        "adapter_passed": 0,
        "stated": True,
    }
    assert report["all_checks"]["n"] == 2
    assert report["decoding"]["strategy"] == "greedy"
    assert report["decoding"]["max_new_tokens"] == 8
    assert report["seconds"] > 0
    assert {(c["split"], c["n"]) for c in report["categories"]} == {("validation", 2), ("control", 6)}
    # The engine's raw answers are not kept twice: the report on the adapter has them.
    assert "behaviour" not in styled_adapter.job.result
    assert styled_adapter.metrics["behaviour_seconds"] > 0
    assert "behavioural checks on 2 validation answers" in styled_adapter.job.log_tail


def test_job_page_shows_the_checks_with_too_few_answers_said_plainly(pages, styled_adapter):
    job = styled_adapter.job
    html = text(pages.get(f"/projects/{job.project_id}/training/{job.pk}/"))
    section = html[html.index('<section class="behaviour"') : html.index("</section>")]
    assert HEADING in section
    assert '<th title="style.signoff">Answer does not end with the house sign-off</th>' in section
    assert "<td>0 of 2 (0%)</td><td>0 of 2 (0%)</td><td>2</td>" in section
    assert "only 2 answers: too few to judge" in section
    assert "only 6 answers: too few to judge" in section  # the control set's row
    assert "Everyday requests (control set)" in section
    assert "no change" not in section  # not judged on 2 answers
    # Example answers side by side, escaped; each says which checks it failed.
    assert escape(SYSTEM) in section
    assert escape(FOLLOW_UP) in section
    assert "<script>alert(1)" not in html
    assert "Fails: Answer does not end with the house sign-off" in section
    # The validation loss on 2 examples says it can't be trusted yet.
    assert "The validation loss comes from only 2 validation examples: too few to judge, so it can" in html


def test_adapter_page_shows_the_checks_and_offers_blind_comparison(
    pages, styled_adapter, django_assert_max_num_queries
):
    url = f"/projects/{styled_adapter.project_id}/adapters/{styled_adapter.pk}/"
    with django_assert_max_num_queries(12):  # bounded: the report is one column, whatever its size
        html = text(pages.get(url))
    assert HEADING in html
    assert 'title="style.signoff"' in html
    assert "only 2 answers: too few to judge" in html
    assert "validation-note" in html
    link = f"/projects/{styled_adapter.project_id}/evaluations/?from_adapter={styled_adapter.pk}#new-evaluation"
    assert f'href="{link}"' in html
    assert "Compare blind on these prompts" in html

    form = text(pages.get(link.split("#")[0]))
    report = results.behaviour_report(styled_adapter.behaviour)
    lines = [p["prompt"][-1]["content"] for p in report["prompts"] if p["split"] == "validation"]
    textarea = re.search(r"<textarea[^>]*name=\"prompts\"[^>]*>(.*?)</textarea>", form, re.S).group(1)
    assert textarea.strip().splitlines() == [escape(line) for line in lines]
    assert "<script>alert(1)" not in form
    assert re.search(rf'value="{styled_adapter.pk}"[^>]*checked', form)
    assert "Filled in from the adapter" in form


def test_adapter_page_queries_do_not_grow_with_the_report(pages, styled_adapter, django_assert_num_queries):
    url = f"/projects/{styled_adapter.project_id}/adapters/{styled_adapter.pk}/"
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        text(pages.get(url))
    report = dict(styled_adapter.behaviour)
    report["prompts"] = report["prompts"] * 20  # a report of 160 prompts
    Adapter.objects.filter(pk=styled_adapter.pk).update(behaviour=report)
    with django_assert_num_queries(len(small.captured_queries)):
        text(pages.get(url))


def test_model_card_and_api_carry_the_report(api, owner, styled_adapter):
    assert "## What the adapter learned: the project's checks on generated answers" in styled_adapter.model_card
    assert "| Answer does not end with the house sign-off (`style.signoff`) | 0 of 2 (0%) | 0 of 2 (0%) | 2 |" in (
        styled_adapter.model_card
    )
    client = api(owner)
    body = client.get(f"/api/v1/projects/{styled_adapter.project_id}/adapters/{styled_adapter.pk}/").json()
    assert body["behaviour"] == results.behaviour_report(styled_adapter.behaviour)
    job = client.get(f"/api/v1/projects/{styled_adapter.project_id}/training-jobs/{styled_adapter.job_id}/").json()
    assert job["behaviour"] == body["behaviour"]
    job_adapter = client.get(
        f"/api/v1/projects/{styled_adapter.project_id}/training-jobs/{styled_adapter.job_id}/adapter/"
    ).json()
    assert job_adapter["behaviour"] == body["behaviour"]
    listed = client.get(f"/api/v1/projects/{styled_adapter.project_id}/adapters/").json()
    assert "behaviour" not in listed[0]  # the list stays light


def test_compare_page_puts_both_evaluations_side_by_side(pages, styled_adapter, make_job, store, engine_runs):
    other = Adapter.objects.get(job=store(make_job(), engine_runs["resumed"]))
    html = text(
        pages.get(f"/projects/{styled_adapter.project_id}/adapters/compare/?a={styled_adapter.pk}&b={other.pk}")
    )
    assert "What the adapters learned" in html
    assert '<th title="style.signoff">Answer does not end with the house sign-off</th>' in html
    judged = '0 of 2 (0%) → 0 of 2 (0%) <span class="too-few">(only 2 answers: too few to judge)</span>'
    assert html.count(judged) >= 2
    assert html.count("The validation loss comes from only 2 validation examples") == 2


def test_forgetting_verdict_on_few_control_conversations_is_not_trusted(pages, styled_adapter):
    job = styled_adapter.job
    result = dict(job.result)
    result["forgetting"] = {**result["forgetting"], "control_examples": 4, "warn": False}
    TrainingJob.objects.filter(pk=job.pk).update(result=result)
    note = "only 4 control conversations: too few to judge, so its verdict can&#x27;t be trusted yet."
    assert note in text(pages.get(f"/projects/{job.project_id}/training/{job.pk}/"))
    assert note in text(pages.get(f"/projects/{job.project_id}/adapters/{styled_adapter.pk}/"))
    found = text(pages.get(f"/projects/{job.project_id}/training/{job.pk}/found/"))
    assert note in found
    assert "No action needed" not in found
    assert "too few to judge</span>" in found
