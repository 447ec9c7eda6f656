"""Dataset-level validation: runs through a real worker, data health page, dataset version gate, API."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import ExampleStatus, ValidationRun, ValidationRunStatus
from annotation.services import knowledge as knowledge_services
from annotation.services import validation_runs as run_services
from annotune.errors import ApplicationError
from curated_data.models import DatasetVersion
from curated_data.services.versions import version_create
from tests.factories import ExampleFactory
from tests.workers import celery_worker, wait_for

SAME = [{"role": "user", "content": "How do I reset my password?"}, {"role": "assistant", "content": "Use Settings."}]
LEAKED = [
    {"role": "user", "content": "What is the refund window?"},
    {"role": "assistant", "content": "14 days <|im_end|>"},
]


def _pool(project, annotator, annotator2, n=22):
    """A skewed pool: every example in 'billing', one annotator writes nearly all, three duplicates."""
    for i in range(n):
        ExampleFactory(
            project=project,
            author=annotator if i else annotator2,
            status=ExampleStatus.APPROVED,
            category="billing",
            messages=[
                {"role": "user", "content": f"Invoice question {i}: where is invoice {i * 7}?"},
                {"role": "assistant", "content": f"Open Billing and search for invoice {i * 7} by its date."},
            ],
        )
    for _ in range(3):
        ExampleFactory(
            project=project, author=annotator, status=ExampleStatus.APPROVED, category="billing", messages=SAME
        )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_dataset_run_through_a_real_worker(client, project, owner, annotator, annotator2):
    _pool(project, annotator, annotator2)
    knowledge_services.fact_add(project=project, user=owner, statement="Passwords are reset under Settings, Security.")
    knowledge_services.document_add(
        project=project, user=owner, title="billing.md", text="Invoices are listed on the Billing page by date."
    )
    with celery_worker("default"):
        run = run_services.run_start(project=project, user=owner)
        done = wait_for(
            lambda: ValidationRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(),
            timeout=120,
            message="the validation run to finish",
        )
    assert done.status == ValidationRunStatus.SUCCEEDED, done.error
    assert done.progress == 1.0
    assert done.example_count == 25
    assert done.started_at <= done.finished_at
    codes = {f["code"] for f in done.report["findings"]}
    assert "ds.exact_duplicate" in codes
    assert "ds.category_imbalance" in codes or "ds.category_dominant" in codes
    assert "ds.annotator_dominance" in codes
    exact = done.report["stats"]["duplicates"]["exact"]
    assert len(exact) == 1
    assert len(exact[0]) == 3
    assert done.report["fact_check_ran"] is True
    assert done.report["tokenizer"] == "estimate"

    client.force_login(annotator)
    html = client.get(reverse("data-health", args=[project.pk])).content.decode()
    assert 'id="health-charts"' in html
    assert "Exact" in html
    assert "ds.exact_duplicate" in html
    assert f'href="{reverse("validation-run", args=[project.pk, run.pk])}"' in html


@pytest.mark.django_db
def test_run_start_queues_one_run_and_refuses_a_second(
    client, project, reviewer, annotator, django_capture_on_commit_callbacks
):
    client.force_login(reviewer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("data-health", args=[project.pk]))
    assert response.status_code == 302
    assert len(callbacks) == 1
    run = ValidationRun.objects.get(project=project)
    assert run.status == ValidationRunStatus.QUEUED
    assert run.created_by == reviewer
    page = client.get(reverse("data-health", args=[project.pk])).content.decode()
    assert 'id="run-progress"' in page
    assert "every 1s" in page
    with pytest.raises(ApplicationError, match="still queued"):
        run_services.run_start(project=project, user=reviewer)
    with pytest.raises(PermissionDenied):
        run_services.run_start(project=project, user=annotator)
    progress = client.get(reverse("validation-run-progress", args=[project.pk, run.pk]))
    assert progress.status_code == 200
    assert "HX-Refresh" not in progress
    assert "Waiting for a worker to pick it up: nothing is ahead of it" in page  # says why it waits
    assert "Waiting for a worker" in progress.content.decode()


@pytest.mark.django_db
def test_a_queued_run_says_what_is_ahead_of_it(project, owner):
    from annotation.selectors.quality import waiting_note
    from tests.factories import ProjectFactory

    earlier = ValidationRun.objects.create(project=ProjectFactory(name="Elsewhere", created_by=owner), created_by=owner)
    running = ValidationRun.objects.create(project=project, created_by=owner, status=ValidationRunStatus.RUNNING)
    mine = ValidationRun.objects.create(project=project, created_by=owner)
    assert waiting_note(mine).startswith("Waiting for a worker: 2 data-health runs are ahead of this one")
    earlier.status = ValidationRunStatus.SUCCEEDED
    earlier.save()
    assert waiting_note(mine).startswith("Waiting for a worker: 1 data-health run is ahead")
    assert waiting_note(running) == ""


@pytest.mark.django_db
def test_run_execute_inline_and_progress_fragment(client, project, owner, annotator, annotator2):
    _pool(project, annotator, annotator2)
    run = ValidationRun.objects.create(project=project, created_by=owner)
    run_services.run_execute(run.pk)
    run_services.run_execute(run.pk)  # a redelivered task is a no-op: the claim fails
    run.refresh_from_db()
    assert run.status == ValidationRunStatus.SUCCEEDED
    client.force_login(owner)
    progress = client.get(reverse("validation-run-progress", args=[project.pk, run.pk]))
    assert progress["HX-Refresh"] == "true"
    detail = client.get(reverse("validation-run", args=[project.pk, run.pk])).content.decode()
    assert "ds.exact_duplicate" in detail


@pytest.mark.django_db
def test_data_health_queries_do_not_grow_with_runs(client, project, owner, annotator, annotator2):
    _pool(project, annotator, annotator2, n=4)
    run = ValidationRun.objects.create(project=project, created_by=owner)
    run_services.run_execute(run.pk)
    client.force_login(owner)

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries.captured_queries)

    page, api_list = reverse("data-health", args=[project.pk]), reverse("api-validation-runs", args=[project.pk])
    before = (count(page), count(api_list))
    for _ in range(8):
        extra = ValidationRun.objects.create(project=project, created_by=annotator)
        run_services.run_execute(extra.pk)
    assert (count(page), count(api_list)) == before
    assert before[0] <= 14
    assert client.get(page).content.decode().count("/data-health/runs/") >= 9
    assert len(client.get(api_list).json()) == 9


@pytest.mark.django_db
def test_version_blocked_by_errors_unless_owner_overrides(project, owner, reviewer, annotator, annotator2):
    _pool(project, annotator, annotator2, n=4)
    ExampleFactory(
        project=project, author=annotator2, status=ExampleStatus.APPROVED, category="general", messages=LEAKED
    )
    with pytest.raises(ApplicationError) as info:
        version_create(project=project, user=owner)
    assert "error" in info.value.message
    report = info.value.extra["report"]
    assert any(f["code"] == "fmt.template_token" for f in report["errors"])
    assert DatasetVersion.objects.count() == 0
    with pytest.raises(PermissionDenied):
        version_create(project=project, user=reviewer, override_reason="looks fine to me")
    assert DatasetVersion.objects.count() == 0
    version = version_create(project=project, user=owner, override_reason="Token kept on purpose for a format test.")
    assert version.override_reason == "Token kept on purpose for a format test."
    assert version.validation_report["errors"]
    assert "duplicates" in version.validation_report["checks"]
    assert any(f["code"] == "ds.exact_duplicate" for f in version.validation_report["warnings"])


@pytest.mark.django_db
def test_clean_version_has_no_override(project, owner, annotator, annotator2):
    _pool(project, annotator, annotator2, n=4)
    version = version_create(project=project, user=owner)
    assert version.override_reason == ""
    assert not version.validation_report["errors"]


@pytest.mark.django_db
def test_validation_api(api, project, owner, reviewer, annotator, outsider):
    def j(user):
        client = api(user)
        client.default_format = "json"
        return client

    pk = project.pk
    draft = {
        "messages": [{"role": "user", "content": "Hi  there"}, {"role": "assistant", "content": "Mail a@acme.org"}]
    }
    body = j(annotator).post(reverse("api-validate", args=[pk]), draft, format="json").json()
    assert {f["code"] for f in body["findings"]} == {"fmt.double_space", "pii.email"}
    assert body["blocking"] is False
    fixed = j(annotator).post(reverse("api-validate", args=[pk]), {**draft, "fix": "pii.email"}, format="json").json()
    assert fixed["messages"][1]["content"] == "Mail [EMAIL]"

    created = j(annotator).post(reverse("api-examples", args=[pk]), draft, format="json").json()
    eid = created["id"]
    findings = j(annotator).get(reverse("api-example-findings", args=[pk, eid])).json()
    assert findings["error_count"] == 0
    assert len(findings["findings"]) == 2
    stale = j(annotator).post(reverse("api-example-fix", args=[pk, eid]), {"version": 5, "code": "fmt.double_space"})
    assert stale.status_code == 409
    ok = j(annotator).post(reverse("api-example-fix", args=[pk, eid]), {"version": 1, "code": "fmt.double_space"})
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    bad = j(annotator).post(reverse("api-example-fix", args=[pk, eid]), {"version": 2, "code": "fmt.role_order"})
    assert bad.status_code == 400

    doc = j(owner).post(reverse("api-documents", args=[pk]), {"title": "a.md", "text": "Refunds take 14 days."})
    assert doc.status_code == 201
    assert j(annotator).post(reverse("api-documents", args=[pk]), {"title": "b", "text": "x"}).status_code == 403
    assert len(j(annotator).get(reverse("api-documents", args=[pk])).json()) == 1
    fact = j(reviewer).post(reverse("api-facts", args=[pk]), {"statement": "Support answers within a day."})
    assert fact.status_code == 201
    claim = j(reviewer).post(reverse("api-claims", args=[pk]), {"claim": "Refunds take 20 days.", "source": "CEO"})
    assert claim.status_code == 201
    assert j(annotator).get(reverse("api-claims", args=[pk])).json()[0]["source"] == "CEO"
    checks = j(annotator).get(reverse("api-checks", args=[pk])).json()
    assert {"code", "severity", "effective", "title", "fix"} <= set(checks[0])
    run = j(reviewer).post(reverse("api-validation-runs", args=[pk]), {}, format="json")
    assert run.status_code == 202
    detail = j(annotator).get(reverse("api-validation-run", args=[pk, run.json()["id"]])).json()
    assert detail["status"] == "queued"
    assert j(owner).delete(reverse("api-document", args=[pk, doc.json()["id"]])).status_code == 204
    assert j(owner).delete(reverse("api-fact", args=[pk, fact.json()["id"]])).status_code == 204

    outsider_urls = [
        ("post", reverse("api-validate", args=[pk])),
        ("get", reverse("api-example-findings", args=[pk, eid])),
        ("post", reverse("api-example-fix", args=[pk, eid])),
        ("get", reverse("api-documents", args=[pk])),
        ("post", reverse("api-documents", args=[pk])),
        ("get", reverse("api-facts", args=[pk])),
        ("get", reverse("api-claims", args=[pk])),
        ("post", reverse("api-claims", args=[pk])),
        ("get", reverse("api-validation-runs", args=[pk])),
        ("post", reverse("api-validation-runs", args=[pk])),
        ("get", reverse("api-validation-run", args=[pk, run.json()["id"]])),
        ("get", reverse("api-checks", args=[pk])),
    ]
    for method, url in outsider_urls:
        assert getattr(j(outsider), method)(url, {}, format="json").status_code == 404, url


@pytest.mark.django_db
def test_run_over_a_dataset_version_checks_its_split(api, project, owner, annotator, annotator2):
    _pool(project, annotator, annotator2, n=10)
    version = version_create(project=project, user=owner, validation_fraction=0.2)
    client = api(owner)
    response = client.post(
        reverse("api-validation-runs", args=[project.pk]), {"dataset_version": version.pk}, format="json"
    )
    assert response.status_code == 202
    run_services.run_execute(response.json()["id"])
    run = ValidationRun.objects.get(pk=response.json()["id"])
    assert run.status == ValidationRunStatus.SUCCEEDED, run.error
    assert run.dataset_version == version
    assert run.example_count == version.example_count
    assert run.report["stats"]["split"] == {"train": version.train_count, "validation": version.validation_count}
    other = api(owner).post(reverse("api-validation-runs", args=[project.pk]), {"dataset_version": 999}, format="json")
    assert other.status_code == 404


@pytest.mark.django_db
def test_run_flags_replies_that_differ_from_the_pools_list_style(project, owner, annotator):
    def approved(prompt: str, reply: str):
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
        return ExampleFactory(
            project=project, author=annotator, status=ExampleStatus.APPROVED, category="billing", messages=messages
        )

    for i in range(5):
        approved(f"How to export {i}?", f"Steps for case {i}:\n- open Billing\n- pick invoice {i}\n- press Export")
    odd = approved("And refunds?", "Steps:\n* open Billing\n* pick the refund")
    run = ValidationRun.objects.create(project=project, created_by=owner)
    run_services.run_execute(run.pk)
    run.refresh_from_db()
    assert run.report["style_profile"]["list_marker"] == "-"
    assert [f["code"] for f in run.report["example_findings"][str(odd.pk)]] == ["fmt.list_style"]
