"""'What training found' pages and API: ranked lists, filters, send-back, permissions, query counts."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Example, ExampleStatus, ReviewFlag
from serving.models import Adapter
from tests.evaluation.found_helpers import approved_example, make_job, score, scored_set
from tests.factories import conversation
from training.models import JobStatus

pytestmark = pytest.mark.django_db
S = ExampleStatus
HOSTILE = [
    {"role": "system", "content": "Be <b>brief</b>."},
    {"role": "user", "content": "What is <script>alert(1)</script>?"},
    {"role": "assistant", "content": "A tag & nothing more."},
]


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def job(project, owner):
    return make_job(project, owner)


@pytest.fixture
def examples(project, job, annotator, reviewer, annotator2):
    billing = scored_set(project, job, annotator, reviewer, [4.1, 1.0, 1.1, 1.2, 1.05, 0.95, 1.15])
    general = scored_set(project, job, annotator2, reviewer, [0.5, 0.6, 0.55, 0.52], category="general")
    val = scored_set(project, job, annotator, reviewer, [2.5, 2.4], split="validation")
    hostile = approved_example(project, annotator, reviewer, 1, messages=HOSTILE)
    Example.objects.filter(pk=hostile.pk).update(
        findings=[{"code": "pii_email", "severity": "warning", "message": "An <i>e-mail</i> address.", "location": {}}]
    )
    score(job, hostile, 3.0)
    return {"billing": billing, "general": general, "validation": val, "hostile": hostile}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def found_url(job, **query) -> str:
    from urllib.parse import urlencode

    url = reverse("training-found", args=[job.project_id, job.pk])
    return url + (f"?{urlencode(query)}" if query else "")


def test_the_page_ranks_by_adapter_loss_with_escaped_turns_findings_author_and_reviewer(job, examples, owner):
    response = client_for(owner).get(found_url(job))
    assert response.status_code == 200
    html = response.content.decode()
    hardest = examples["billing"][0]
    assert html.index(f"score-{hardest.training_scores.get().pk}") < html.index(
        f"score-{examples['hostile'].training_scores.get().pk}"
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "&lt;b&gt;brief&lt;/b&gt;" in html
    assert "&lt;i&gt;e-mail&lt;/i&gt;" in html
    assert "<i>e-mail</i>" not in html
    assert "by anna · approved by rita" in html
    assert "Loss distribution" in html
    assert 'id="found-chart-data"' in html
    assert "Send back for review" in html


def test_lists_filters_and_outliers(job, examples, reviewer):
    client = client_for(reviewer)
    html = client.get(found_url(job, ranking="learned")).content.decode()
    assert 'aria-current="page" class="current">Learned most' in html
    html = client.get(found_url(job, ranking="outliers", category="billing")).content.decode()
    hardest = examples["billing"][0]
    # 4.1 among billing losses around 1.0: far above the category median.
    assert html.index(f"<strong>#{hardest.pk}</strong>") < html.index(f"<strong>#{examples['billing'][1].pk}</strong>")
    assert "<strong>outlier</strong>" in html
    assert f"<strong>#{examples['general'][0].pk}</strong>" not in html
    html = client.get(found_url(job, split="validation")).content.decode()
    assert f"<strong>#{examples['validation'][0].pk}</strong>" in html
    assert f"<strong>#{hardest.pk}</strong>" not in html
    html = client.get(found_url(job, author="ben")).content.decode()
    assert f"<strong>#{examples['general'][0].pk}</strong>" in html
    assert f"<strong>#{hardest.pk}</strong>" not in html


def test_per_category_gap_and_bad_filters(job, examples, owner):
    client = client_for(owner)
    html = client.get(found_url(job)).content.decode()
    assert "overfitting?" in html  # billing: validation mean 2.45 against train mean ≈ 1.5
    for query in ({"split": "test"}, {"ranking": "worst"}, {"category": "x\x00"}):
        response = client.get(found_url(job, **query))
        assert response.status_code == 400
        assert any(word in response.content.decode() for word in ("Unknown", "not a valid name", "NUL"))


def test_send_back_from_the_page_one_click_and_bulk(job, examples, project, owner, reviewer):
    client = client_for(reviewer)
    hardest = examples["billing"][0]
    url = reverse("training-send-back", args=[project.pk, job.pk])
    response = client.post(url, {"one": hardest.pk, "example": [examples["general"][0].pk], "ranking": "hardest"})
    assert response.status_code == 302
    assert response.url.endswith("?ranking=hardest#scores")
    assert list(ReviewFlag.objects.values_list("example_number", flat=True)) == [hardest.pk]  # the row's button only
    bulk = [examples["general"][0].pk, examples["general"][1].pk, hardest.pk]
    response = client.post(url, {"example": bulk, "ranking": "outliers", "category": "general"}, follow=True)
    html = response.content.decode()
    assert "2 examples sent back to review; 1 skipped" in html
    assert f"#{hardest.pk} was already sent back" in html
    assert "Sent back · Pending review" in html
    assert Example.objects.get(pk=examples["general"][0].pk).status == S.SUBMITTED
    # Garbage in the selection: a message, nothing sent, no 500.
    response = client.post(url, {"example": ["abc"]}, follow=True)
    assert response.status_code == 200
    assert "not an example id" in response.content.decode()
    response = client.post(url, {}, follow=True)
    assert "Choose at least one example" in response.content.decode()


def test_deleted_or_edited_meanwhile_is_shown_and_skipped(job, examples, project, owner, reviewer):
    deleted, edited = examples["billing"][1], examples["billing"][2]
    from annotation.services import reviews as review_services

    review_services.review_reopen(example=edited, user=owner)
    edited.refresh_from_db()
    review_services.review_edit_and_approve(
        example=edited, reviewer=reviewer, version=edited.version, messages=conversation(999)
    )
    deleted_pk = deleted.pk
    deleted.delete()
    client = client_for(owner)
    html = client.get(found_url(job)).content.decode()
    assert "Deleted example" in html
    assert "edited since training" in html
    url = reverse("training-send-back", args=[project.pk, job.pk])
    response = client.post(url, {"example": [deleted_pk, edited.pk]}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was sent back; 2 skipped" in html
    assert "was edited after job" in html


def test_permissions_reviewers_and_owners_only(job, examples, project, annotator, outsider, reviewer, owner):
    url = reverse("training-send-back", args=[project.pk, job.pk])
    pk = examples["billing"][0].pk
    assert client_for(annotator).get(found_url(job)).status_code == 403
    assert client_for(annotator).post(url, {"one": pk}).status_code == 403
    assert client_for(outsider).get(found_url(job)).status_code == 404
    assert client_for(outsider).post(url, {"one": pk}).status_code == 404
    assert Client().get(found_url(job)).status_code == 302  # to the login page
    assert not ReviewFlag.objects.exists()
    for user in (reviewer, owner):
        assert client_for(user).get(found_url(job)).status_code == 200
    other = make_job(project, owner)
    assert client_for(owner).get(reverse("training-found", args=[project.pk + 100, other.pk])).status_code == 404


def test_page_queries_do_not_grow_with_the_rows(job, project, owner, annotator, reviewer, annotator2):
    client = client_for(owner)
    scored_set(project, job, annotator, reviewer, [1.0 + i / 10 for i in range(3)])
    url = found_url(job)
    client.get(url)  # warms the job-wide figures' cache
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    scored_set(project, job, annotator2, reviewer, [2.0 + i / 10 for i in range(30)], category="general")
    flagged = Example.objects.filter(project=project).order_by("pk")[:5]
    client_for(reviewer).post(
        reverse("training-send-back", args=[project.pk, job.pk]), {"example": [e.pk for e in flagged]}
    )
    client.get(url)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]


def test_states_without_scores(project, owner):
    running = make_job(project, owner, status=JobStatus.RUNNING)
    html = client_for(owner).get(found_url(running)).content.decode()
    assert "is running: its examples are scored once it succeeds" in html
    old = make_job(project, owner)
    html = client_for(owner).get(found_url(old)).content.decode()
    assert "has no per-example scores" in html
    assert "Nothing sent back yet" in html


def test_adapter_page_and_forgetting_report(job, examples, project, owner):
    project.general_category = "general"
    project.categories = [{"name": "billing", "target_share": 0.5}, {"name": "general", "target_share": 0.5}]
    project.save()
    job.result = {
        "forgetting": {
            "control_ratio": 1.31,
            "control_base_ppl": 10.0,
            "control_adapter_ppl": 13.1,
            "validation_ratio": 0.6,
            "control_examples": 40,
            "source": "builtin",
            "samples": [{"prompt": [{"role": "user", "content": "Hi <b>there</b>"}], "before": "Hello", "after": "x"}],
            "threshold": 1.1,
            "warn": True,
        }
    }
    job.save()
    adapter = Adapter.objects.create(
        project=project, job=job, base_model=job.base_model, name="support-v1", storage_path="adapters/x"
    )
    client = client_for(owner)
    detail = client.get(reverse("adapter-detail", args=[project.pk, adapter.pk])).content.decode()
    assert reverse("adapter-found", args=[project.pk, adapter.pk]) in detail
    job_page = client.get(reverse("training-job-detail", args=[project.pk, job.pk])).content.decode()
    assert found_url(job) in job_page
    html = client.get(reverse("adapter-found", args=[project.pk, adapter.pk])).content.decode()
    assert "support-v1" in html
    assert "Forgetting check" in html
    assert "1.310" in html
    # 4 general of 14 scored: 29 % against a 50 % target.
    assert "General conversations (general) are 29% of the training data against a target of 50%" in html
    assert "Add and approve about 6 general examples" in html
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in html
    combined = Adapter.objects.create(project=project, base_model=job.base_model, name="mix", storage_path="a/y")
    html = client.get(reverse("adapter-found", args=[project.pk, combined.pk])).content.decode()
    assert "not produced by a training job" in html


def test_my_work_and_review_screen_show_the_evidence(job, examples, project, owner, reviewer, annotator):
    hardest = examples["billing"][0]
    client_for(owner).post(reverse("training-send-back", args=[project.pk, job.pk]), {"one": hardest.pk})
    mine = client_for(annotator).get(reverse("my-work", args=[project.pk])).content.decode()
    assert "Flagged by training" in mine
    assert f"Flagged by training job #{job.pk}: loss 4.1" in mine
    assert "Pending: submitted." in mine
    response = client_for(reviewer).get(reverse("review-next", args=[project.pk]), follow=True)
    html = response.content.decode()
    assert f'Review <a href="/projects/{project.pk}/examples/{hardest.pk}/">#{hardest.pk}</a>' in html
    assert "Sent back by training" in html
    assert f"what job #{job.pk} found" in html


# -- API ------------------------------------------------------------------------------------------


def api_url(job, name: str) -> str:
    return reverse(f"api-training-job-{name}", args=[job.project_id, job.pk])


def test_api_scores_paged_filtered_ordered(api, job, examples, reviewer):
    client = api(reviewer)
    body = client.get(api_url(job, "scores"), {"page_size": 5}).json()
    assert body["count"] == 14
    assert len(body["results"]) == 5
    assert body["next"]
    first = body["results"][0]
    assert first["example"] == examples["billing"][0].pk
    assert first["rank"] == 1
    assert first["author"] == "anna"
    assert first["reviewer"] == "rita"
    assert first["sent_back"] == ""
    body = client.get(api_url(job, "scores"), {"ordering": "outlier", "category": "billing"}).json()
    assert body["results"][0]["example"] == examples["billing"][0].pk
    assert body["results"][0]["robust_z"] > 3
    body = client.get(api_url(job, "scores"), {"ordering": "loss_drop", "split": "validation"}).json()
    assert {r["example"] for r in body["results"]} == {e.pk for e in examples["validation"]}
    refused = client.get(api_url(job, "scores"), {"ordering": "random", "colour": "red"})
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"colour"}
    assert client.get(api_url(job, "scores"), {"ordering": "random"}).status_code == 400


def test_api_found_send_back_and_forgetting(api, job, examples, reviewer, annotator, outsider):
    client = api(reviewer)
    body = client.get(api_url(job, "found"), {"limit": 2}).json()
    assert [r["example"] for r in body["rankings"]["hardest"]] == [examples["billing"][0].pk, examples["hostile"].pk]
    assert len(body["rankings"]["learned"]) == 2
    assert body["rankings"]["outliers"][0]["robust_z"] > 3
    assert {c["category"] for c in body["categories"]} == {"billing", "general"}
    assert body["note"] == ""
    ids = [examples["billing"][0].pk, 10**9]
    response = client.post(api_url(job, "send-back"), {"example_ids": ids, "ranking": "hardest"}, format="json")
    assert response.status_code == 200
    assert response.json()["sent"] == [ids[0]]
    assert response.json()["skipped"] == [{"example": 10**9, "reason": "was deleted (or is not in this project)"}]
    body = client.get(api_url(job, "found")).json()
    assert body["sent_back"][0]["outcome"] == "pending"
    assert body["sent_back"][0]["sent_by"] == "rita"
    refused = client.post(api_url(job, "send-back"), {"example_ids": ids, "reason": "x"}, format="json")
    assert refused.status_code == 400
    assert "reason" in refused.json()["errors"]
    assert client.post(api_url(job, "send-back"), {"example_ids": []}, format="json").status_code == 400
    assert client.get(api_url(job, "forgetting")).status_code == 404
    job.result = {"forgetting": {"control_ratio": 1.02, "threshold": 1.1, "control_examples": 8, "samples": []}}
    job.save()
    body = client.get(api_url(job, "forgetting")).json()
    assert body["report"]["warn"] is False
    assert body["report"]["control_ratio"] == 1.02
    for user, code in ((annotator, 403), (outsider, 404)):
        for name in ("scores", "found", "forgetting"):
            assert api(user).get(api_url(job, name)).status_code == code
        assert api(user).post(api_url(job, "send-back"), {"example_ids": ids}, format="json").status_code == code


def test_api_schema_documents_the_endpoints(api, owner):
    schema = api(owner).get(reverse("api-schema"), {"format": "json"})
    assert schema.status_code == 200
    text = schema.content.decode()
    for operation in ("training_job_scores", "training_job_found", "training_job_send_back", "training_job_forgetting"):
        assert operation in text


# -- from a real job ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A tiny model trained a few steps in-process, as the worker's child runs it (scores included)."""
    from tests.serving.adapter_helpers import cached_base
    from tests.training.pages.conftest import CONFIG, conversations, run_engine
    from training.services.configs import resolve_config

    root = tmp_path_factory.mktemp("found-run")
    config = resolve_config(preset=None, config=CONFIG)
    return run_engine(cached_base(), root / "ok", config=config, examples=conversations())


def test_the_page_from_a_real_jobs_stored_scores(real_run, project, owner, annotator, reviewer, settings, tmp_path):
    """The worker's writer stores the engine's scores; the page and the send-back read them back."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from tests.training.pages import conftest as pages
    from training.models import BaseModel, TrainingJob
    from training.services import execution
    from training.services.configs import resolve_config
    from training.services.execution import MANIFEST_NAME

    root = tmp_path / "storage"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    settings.TRAINING_WORK_DIR = tmp_path / "training"
    examples = [
        approved_example(project, annotator, reviewer, i, messages=conv, category="billing")
        for i, conv in enumerate(pages.conversations())
    ]
    folder = "training/jobs/real"
    manifest = "".join(f'{{"split": "train", "id": {e.pk}}}\n' for e in examples)
    default_storage.save(f"{folder}/{MANIFEST_NAME}", ContentFile(manifest.encode()))
    base = BaseModel.objects.create(name="tiny-real", source=str(pages.cached_base()), architecture="llama")
    job = TrainingJob.objects.create(
        project=project,
        base_model=base,
        train_path=f"{folder}/train.jsonl",
        dataset_sha256="cd" * 32,
        train_examples=len(examples),
        method="lora",
        config=resolve_config(preset=None, config=pages.CONFIG),
        created_by=owner,
    )
    reporter = pages.claim(job)
    pages.replay(reporter, real_run)
    output = tmp_path / "out"
    import dataclasses
    import shutil

    shutil.copytree(real_run.output_dir, output)
    outcome = dataclasses.replace(
        real_run.outcome, result={**real_run.outcome.result, "adapter_dir": str(output / "adapter")}
    )
    execution.finish_outcome(reporter, outcome, output)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail)
    assert job.example_scores.count() == len(examples)
    assert set(job.example_scores.values_list("split", flat=True)) == {"train", "validation"}  # 2 held out

    client = client_for(reviewer)
    html = client.get(found_url(job)).content.decode()
    assert f"{len(examples)} examples scored" in html
    hardest = job.example_scores.order_by("-adapter_loss").first()
    assert html.index(f"<strong>#{hardest.example_id}</strong>") < html.index("Sent back by this job")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(" not in html
    if (job.result or {}).get("forgetting"):
        assert "Forgetting check" in html
    client.post(reverse("training-send-back", args=[project.pk, job.pk]), {"one": hardest.example_id})
    flag = ReviewFlag.objects.get()
    assert flag.comment.startswith(f"Flagged by training job #{job.pk}: loss ")
    nxt = client.get(reverse("review-next", args=[project.pk]))
    assert nxt.url.startswith(reverse("review-screen", args=[project.pk, hardest.example_id]))
