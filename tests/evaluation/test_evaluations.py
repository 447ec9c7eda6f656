"""Blind pairwise evaluations: statistics, blindness, the queue, the preference export, permissions,
and one real generation with a tiny model through the inference task."""

from __future__ import annotations

import json
import math

import pytest
from django.test import Client

from annotation.models import ExampleStatus
from annotune.errors import ApplicationError
from curated_data.services import versions
from evaluation.models import Evaluation, EvaluationItem, EvaluationStatus, Judgment
from evaluation.selectors import evaluations as selectors
from evaluation.services import evaluations as services
from serving.inference.outputs import Answer
from serving.models import Adapter
from tests.evaluation.preference_check import trl_check
from tests.factories import ExampleFactory
from tests.serving.adapter_fixtures import *  # noqa: F403
from training.engine import pairwise
from training.models import BaseModel

NAMES = ("Lawyerbot", "Supportbot")


# -- statistics (pure) ------------------------------------------------------------------------------
def test_wilson_interval_matches_the_formula():
    low, high = pairwise.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = pairwise.wilson(0, 5)
    assert low == 0
    assert 0.43 < high < 0.44
    low, high = pairwise.wilson(2.5, 5)  # ties as halves
    assert math.isclose(low + high, 1.0)


def test_pair_results_orient_pairs_and_count_ties_as_halves():
    outcomes = [pairwise.Outcome("B", "A", "a")] * 3 + [pairwise.Outcome("A", "B", "tie")]
    (row,) = pairwise.pair_results(outcomes)
    assert (row.a, row.b, row.wins_a, row.wins_b, row.ties, row.n) == ("A", "B", 0, 3, 1, 4)
    assert row.win_rate_a == pytest.approx(0.125)
    assert row.low < row.win_rate_a < row.high


def test_bradley_terry_ranks_a_transitive_order():
    outcomes = (
        [pairwise.Outcome("A", "B", "a")] * 8
        + [pairwise.Outcome("A", "B", "b")] * 2
        + [pairwise.Outcome("B", "C", "a")] * 7
        + [pairwise.Outcome("B", "C", "tie")] * 2
        + [pairwise.Outcome("C", "A", "b")] * 9
    )
    ranking = pairwise.bradley_terry(outcomes, ["C", "B", "A"])
    assert [r.system for r in ranking] == ["A", "B", "C"]
    assert sum(r.strength for r in ranking) == pytest.approx(1.0)
    assert all(r.strength > 0 for r in ranking)
    assert ranking[1].wins == pytest.approx(2 + 7 + 1)  # ties as half wins


def test_agreement_percent_and_kappa():
    assert pairwise.agreement([]) == pairwise.Agreement(0, None, None)
    perfect = pairwise.agreement([("1", "1"), ("2", "2")])
    assert perfect.percent == 1
    assert perfect.kappa == pytest.approx(1)
    mixed = pairwise.agreement([("1", "1"), ("1", "2"), ("2", "2"), ("2", "1")])
    assert mixed.percent == 0.5
    assert mixed.kappa == pytest.approx(0)


# -- the web and API side (answers from a stand-in backend; the real one is tested at the end) ------
class EchoBackend:
    worker, inline = "echo", False

    def answer(self, *, base_model, adapter, messages, decoding, **kwargs):
        text = f"{f'adapter-{adapter.pk}' if adapter else 'plain'} answers {messages[-1]['content']}"
        return Answer(text=text, prompt_tokens=3, completion_tokens=4, finish_reason="stop", seconds=0.0)


@pytest.fixture
def systems(db, project, owner):
    base = BaseModel.objects.create(name="tiny", source="/nowhere", has_chat_template=True)
    project.base_model = base
    project.save(update_fields=["base_model"])
    return [
        Adapter.objects.create(project=project, base_model=base, name=name, storage_path=f"adapters/{name}")
        for name in NAMES
    ]


@pytest.fixture
def evaluation(project, owner, systems):
    created = services.evaluation_create(
        project=project,
        user=owner,
        name="Round one",
        adapter_ids=[a.pk for a in systems],
        prompts_text="Where is my parcel?\n\nHow do I reset my password?\n",
        max_new_tokens=16,
    )
    assert services.evaluation_generate(created.pk, EchoBackend()) == "succeeded"
    created.refresh_from_db()
    return created


def judge(user, evaluation, verdict: str) -> int:
    item = selectors.queue_next(evaluation, user)
    services.judgment_submit(evaluation=evaluation, item_id=item.id, user=user, verdict=verdict)
    return item.id


def test_generation_builds_one_item_per_prompt_and_pair_in_stored_random_order(evaluation):
    assert evaluation.status == EvaluationStatus.OPEN
    assert evaluation.params["greedy"] is True
    assert evaluation.params["max_new_tokens"] == 16
    items = list(EvaluationItem.objects.filter(evaluation=evaluation).select_related("first", "second"))
    assert len(items) == 2 * 3  # 2 prompts × 3 pairs of (base, Lawyerbot, Supportbot)
    assert all(i.first.prompt_id == i.prompt_id == i.second.prompt_id for i in items)
    assert all(i.first.system != i.second.system for i in items)
    assert {frozenset((i.first.system, i.second.system)) for i in items} == {
        frozenset(p) for p in (("s0", "s1"), ("s0", "s2"), ("s1", "s2"))
    }


def test_system_names_reach_reviewers_only_after_close(evaluation, project, reviewer, owner, api):
    client = Client()
    client.force_login(reviewer)
    p, e = project.pk, evaluation.pk
    pages = [f"/projects/{p}/evaluations/{e}/judge/", f"/projects/{p}/evaluations/{e}/", f"/projects/{p}/evaluations/"]
    http = api(reviewer)
    item = http.get(f"/api/v1/projects/{p}/evaluations/{e}/next/")
    detail = http.get(f"/api/v1/projects/{p}/evaluations/{e}/")
    assert item.status_code == 200
    assert detail.status_code == 200
    assert set(item.json()) == {"id", "messages", "answer_1", "answer_2", "remaining"}
    assert detail.json()["systems"] is None
    assert detail.json()["results"] is None
    assert http.get(f"/api/v1/projects/{p}/evaluations/{e}/preferences/").status_code == 403
    judge_page = client.get(pages[0])
    assert b"Answer 1" in judge_page.content
    assert b"evaluation_keys.js" in judge_page.content
    for body in [client.get(url).content.decode() for url in pages] + [item.content.decode(), detail.content.decode()]:
        for name in NAMES:
            assert name not in body
    assert "Base model" not in item.content.decode() + detail.content.decode()

    judge(reviewer, evaluation, "1")
    services.evaluation_close(evaluation=evaluation, user=owner)
    after_page = client.get(pages[1]).content.decode()
    after_json = http.get(f"/api/v1/projects/{p}/evaluations/{e}/").content.decode()
    for name in (*NAMES, "Base model"):
        assert name in after_page
        assert name in after_json
    assert http.get(f"/api/v1/projects/{p}/evaluations/{e}/next/").status_code == 204


def test_each_reviewer_judges_each_item_once_and_two_reviewers_overlap(evaluation, reviewer, owner, api, project):
    first = [judge(reviewer, evaluation, "1") for _ in range(6)]
    assert len(set(first)) == 6
    assert selectors.queue_next(evaluation, reviewer) is None
    http = api(reviewer)
    again = http.post(
        f"/api/v1/projects/{project.pk}/evaluations/{evaluation.pk}/items/{first[0]}/judgment/",
        {"verdict": "2"},
        format="json",
    )
    assert again.status_code == 400
    # The owner judges the same items: the pairs judged twice measure agreement.
    second = []
    for verdict in ("1", "1", "1", "2", "t", "b"):
        item = selectors.queue_next(evaluation, owner)
        second.append(item.id)
        response = api(owner).post(
            f"/api/v1/projects/{project.pk}/evaluations/{evaluation.pk}/items/{item.id}/judgment/",
            {"verdict": verdict, "comment": "ok"},
            format="json",
        )
        assert response.status_code == 201, response.json()
    assert sorted(second) == sorted(first)
    assert Judgment.objects.filter(item__evaluation=evaluation).count() == 12
    results = selectors.results(evaluation)
    assert results.agreement.items == 6
    assert results.agreement.percent == pytest.approx(0.5)
    assert results.agreement.kappa is not None
    assert sum(r.n for r in results.pairs) == 12
    assert {r.system for r in results.ranking} == {"Base model", *NAMES}


def test_preference_pairs_load_as_a_trl_conversational_dataset(evaluation, reviewer, owner, project, tmp_path):
    for verdict in ("1", "2", "t", "b", "1", "2"):
        judge(reviewer, evaluation, verdict)
    client = Client()
    client.force_login(owner)
    response = client.get(f"/projects/{project.pk}/evaluations/{evaluation.pk}/preferences.jsonl")
    assert response.status_code == 200
    lines = response.content.decode().splitlines()
    assert len(lines) == 4  # ties and both-bad left out
    items = {i.pk: i for i in EvaluationItem.objects.select_related("first", "second")}
    judgments = Judgment.objects.filter(item__evaluation=evaluation).exclude(verdict__in=["t", "b"]).order_by("item_id")
    for line, judgment in zip(lines, judgments, strict=True):
        row = json.loads(line)
        item = items[judgment.item_id]
        winner = item.first if judgment.verdict == "1" else item.second
        assert row["chosen"] == [{"role": "assistant", "content": winner.text}]
    path = tmp_path / "prefs.jsonl"
    path.write_bytes(response.content)
    from datasets import load_dataset

    data = load_dataset("json", data_files=str(path), split="train")
    assert set(data.column_names) == {"prompt", "chosen", "rejected", "origin"}
    assert set(data["origin"]) == {"blind_evaluation"}
    assert data[0]["prompt"][-1]["role"] == "user"
    assert data[0]["chosen"][0]["role"] == "assistant"
    assert data[0]["rejected"][0]["role"] == "assistant"
    # TRL's own checks, in a child process as a user's training script would run them.
    assert trl_check(path, tmp_path) == {"rows": 4, "conversational": 4, "rendered": 4, "tokenized": 4}


def test_annotators_are_refused_and_outsiders_get_404(evaluation, project, annotator, outsider, api):
    p, e = project.pk, evaluation.pk
    item = EvaluationItem.objects.filter(evaluation=evaluation).first()
    pages = [
        f"/projects/{p}/evaluations/",
        f"/projects/{p}/evaluations/{e}/",
        f"/projects/{p}/evaluations/{e}/judge/",
        f"/projects/{p}/evaluations/{e}/preferences.jsonl",
    ]
    reads = [f"/api/v1/projects/{p}/evaluations/{e}/", f"/api/v1/projects/{p}/evaluations/{e}/next/",
             f"/api/v1/projects/{p}/evaluations/{e}/preferences/"]  # fmt: skip
    writes = [
        (f"/api/v1/projects/{p}/evaluations/", {"prompts": "Hi", "adapters": []}),
        (f"/api/v1/projects/{p}/evaluations/{e}/items/{item.pk}/judgment/", {"verdict": "1"}),
        (f"/api/v1/projects/{p}/evaluations/{e}/close/", {}),
    ]
    for user, code in ((annotator, 403), (outsider, 404)):
        client = Client()
        client.force_login(user)
        http = api(user)
        assert [client.get(url).status_code for url in pages] == [code] * 4
        assert [http.get(url).status_code for url in reads] == [code] * 3
        assert [http.post(url, body, format="json").status_code for url, body in writes] == [code] * 3
    assert not Judgment.objects.exists()
    assert Evaluation.objects.get(pk=e).status == EvaluationStatus.OPEN


def test_owner_creates_from_a_version_falling_back_to_train_prompts(project, owner, annotator, systems, api):
    for i in range(3):
        ExampleFactory(
            project=project, author=annotator, status=ExampleStatus.APPROVED, category="billing",
            messages=[{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}],
        )  # fmt: skip
    version = versions.version_create(project=project, user=owner)
    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/evaluations/",
        {"dataset_version": version.pk, "adapters": [systems[0].pk], "max_new_tokens": 8},
        format="json",
    )
    assert response.status_code == 201, response.json()
    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    expected = "validation" if version.validation_count else "train"
    assert evaluation.prompt_source == expected
    prompts = list(evaluation.prompts.all())
    assert prompts
    assert all(p.messages[-1]["role"] == "user" for p in prompts)
    assert {p.category for p in prompts} == {"billing"}
    # Empty validation split: the train split's prompts are used.
    version.validation_count = 0
    source, fallback = services._version_prompts(version)
    assert source == "train"
    assert len(fallback) == version.train_count


def test_prompts_get_the_projects_system_prompt_as_training_gave_it(project, owner, systems):
    project.default_system_prompt = "You are Acme's support assistant."
    project.save(update_fields=["default_system_prompt"])
    evaluation = services.evaluation_create(
        project=project,
        user=owner,
        name="With the system prompt",
        adapter_ids=[a.pk for a in systems],
        prompts_text="Where is my parcel?",
        max_new_tokens=8,
    )
    (prompt,) = evaluation.prompts.all()
    assert prompt.messages == [
        {"role": "system", "content": "You are Acme's support assistant."},
        {"role": "user", "content": "Where is my parcel?"},
    ]
    own = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    assert services.with_system_prompt(own, "You are Acme's support assistant.") == own  # its own one stays


# -- one real generation: tiny base model and adapter, through the inference task ------------------
@pytest.mark.django_db(transaction=True)
def test_the_inference_task_answers_with_the_cached_base_and_adapter(project, owner, make_adapter, adapter_dirs):
    from evaluation.tasks import generate_evaluation_answers

    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    evaluation = services.evaluation_create(
        project=project, user=owner, name="Real", adapter_ids=[adapter.pk], prompts_text="Where is the parcel?",
        max_new_tokens=6,
    )  # fmt: skip
    assert generate_evaluation_answers(evaluation.pk) == "succeeded"
    assert generate_evaluation_answers(evaluation.pk) == "skipped"  # claimed once
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.OPEN, evaluation.error
    item = EvaluationItem.objects.select_related("first", "second").get(evaluation=evaluation)
    texts = {item.first.system: item.first.text, item.second.system: item.second.text}
    assert set(texts) == {"s0", "s1"}
    assert texts["s0"] != texts["s1"]
    assert all(0 < a.new_tokens <= 6 for a in (item.first, item.second))


def test_owner_creates_on_the_page_and_reads_results_per_category(project, owner, systems):
    client = Client()
    client.force_login(owner)
    url = f"/projects/{project.pk}/evaluations/"
    form = client.get(url)
    assert b"Create evaluation" in form.content
    assert b"Blind evaluations" in client.get(f"/projects/{project.pk}/adapters/").content
    response = client.post(
        url,
        {"name": "Page", "base": "on", "adapters": [systems[1].pk], "prompts": "One?\nTwo?", "max_new_tokens": "8"},
    )
    evaluation = Evaluation.objects.get(name="Page")
    assert response.status_code == 302
    assert response.url == f"/projects/{project.pk}/evaluations/{evaluation.pk}/"
    assert b"generating the answers" in client.get(response.url).content
    services.evaluation_generate(evaluation.pk, EchoBackend())
    evaluation.refresh_from_db()
    evaluation.prompts.filter(position=0).update(category="billing")
    judge(owner, evaluation, "1")
    judge(owner, evaluation, "t")
    page = client.get(response.url).content.decode()
    assert "Ranking (Bradley–Terry)" in page
    assert "Category: billing" in page
    assert "Supportbot" in page
    assert "Download preference pairs (JSONL)" in page
    assert "Close and reveal" in page


def test_the_better_answer_becomes_an_example_in_the_review_flow_with_its_origin(
    evaluation, project, reviewer, owner, client_as
):
    from annotation.models import Example

    item_id = judge(reviewer, evaluation, "2")
    judgment = Judgment.objects.get(item_id=item_id, reviewer=reviewer)
    item = EvaluationItem.objects.select_related("second", "prompt").get(pk=item_id)
    page = client_as(reviewer).get(f"/projects/{project.pk}/evaluations/{evaluation.pk}/").content.decode()
    assert "Promote to a new example" in page
    assert item.second.text.split()[0] in page  # the answer judged better, prefilled

    url = f"/projects/{project.pk}/evaluations/{evaluation.pk}/judgments/{judgment.pk}/promote/"
    assert client_as(owner).post(url, {"answer": "x"}).status_code == 404  # not the owner's judgment
    response = client_as(reviewer).post(url, {"answer": "  Track it under Orders, then Parcel.  "}, follow=True)
    assert "waits for review" in response.content.decode()
    judgment.refresh_from_db()
    example = Example.objects.get(pk=judgment.promoted_example_id)
    assert example.status == ExampleStatus.SUBMITTED
    assert example.author == reviewer
    assert example.messages == [
        *item.prompt.messages,
        {"role": "assistant", "content": "Track it under Orders, then Parcel."},
    ]
    origin = example.comments.get().body
    assert f"blind evaluation “Round one” (#{evaluation.pk})" in origin
    assert "(edited)" in origin

    again = client_as(reviewer).post(url, {"answer": "other"}, follow=True).content.decode()
    assert f"Already promoted, as example #{example.pk}" in again
    assert Example.objects.filter(project=project, author=reviewer).count() == 1


def test_ties_and_both_bad_cannot_be_promoted(evaluation, reviewer):
    item_id = judge(reviewer, evaluation, "t")
    judgment = Judgment.objects.get(item_id=item_id, reviewer=reviewer)
    with pytest.raises(ApplicationError, match="picked a better answer"):
        services.judgment_promote(judgment=judgment, user=reviewer)


def test_a_promotion_sent_twice_creates_one_example(evaluation, project, reviewer):
    """Two submissions of one promotion (a double click) both loaded the judgment before either committed."""
    from annotation.models import Example

    item_id = judge(reviewer, evaluation, "1")
    first, second = (Judgment.objects.get(item_id=item_id, reviewer=reviewer) for _ in range(2))
    example = services.judgment_promote(judgment=first, user=reviewer)
    with pytest.raises(ApplicationError, match=f"Already promoted, as example #{example.pk}"):
        services.judgment_promote(judgment=second, user=reviewer)
    assert Example.objects.filter(project=project, author=reviewer).count() == 1
    assert Judgment.objects.get(pk=first.pk).promoted_example_id == example.pk


def test_a_judgment_sent_after_the_close_is_refused(evaluation, reviewer, owner):
    """The judging page loaded the evaluation while open; the owner closed it (names revealed) before the
    verdict arrived: it must not change the published results."""
    loaded = Evaluation.objects.get(pk=evaluation.pk)
    item = selectors.queue_next(loaded, reviewer)
    services.evaluation_close(evaluation=Evaluation.objects.get(pk=evaluation.pk), user=owner)
    with pytest.raises(ApplicationError, match="not open for judging"):
        services.judgment_submit(evaluation=loaded, item_id=item.id, user=reviewer, verdict="1")
    assert not Judgment.objects.filter(item__evaluation=evaluation).exists()


def test_an_archived_adapter_is_not_evaluated(project, owner, systems, api):
    """The page leaves archived adapters out (they are out of service); the API queued them anyway."""
    archived, kept = systems
    Adapter.objects.filter(pk=archived.pk).update(archived=True)
    url = f"/api/v1/projects/{project.pk}/evaluations/"
    response = api(owner).post(url, {"prompts": "Hi", "adapters": [kept.pk, archived.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"adapters": ["archived"]}
    assert "“Lawyerbot” is archived: unarchive it" in response.json()["detail"]
    assert not Evaluation.objects.exists()
    assert api(owner).post(url, {"prompts": "Hi", "adapters": [kept.pk]}, format="json").status_code == 201
