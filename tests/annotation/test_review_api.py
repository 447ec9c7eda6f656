"""Review API: queue, decisions, comments, reopen, bulk, stats; all in the OpenAPI schema."""

from __future__ import annotations

import pytest

from annotation.models import Example, ExampleStatus, Role, Transition
from annotation.services import examples as ex
from tests.factories import MembershipFactory, ProjectFactory, conversation

pytestmark = pytest.mark.django_db
S = ExampleStatus


def submitted(project, author, n: int = 0) -> Example:
    return ex.example_create(project=project, author=author, messages=conversation(n), submit=True)


def test_next_approve_reject_and_empty_queue(api, project, annotator, reviewer):
    first, second = submitted(project, annotator, 1), submitted(project, annotator, 2)
    client = api(reviewer)
    base = f"/api/v1/projects/{project.pk}"
    response = client.post(f"{base}/review/next/", {}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["id"], body["claimed_by"], body["review_round"]) == (first.pk, "rita", 1)
    assert client.get(f"{base}/review/queue/").json() == {
        "submitted": 2,
        "available": 2,
        "available_capped": False,
        "claimed_by_others": 0,
    }
    response = client.post(f"{base}/examples/{first.pk}/approve/", {"comment": "Good."}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["example"]["status"] == "approved"
    assert response.json()["review"]["decision"] == "approve"
    assert client.post(f"{base}/review/next/", {}, format="json").json()["id"] == second.pk
    response = client.post(f"{base}/examples/{second.pk}/reject/", {"reason": "nope"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    response = client.post(
        f"{base}/examples/{second.pk}/reject/", {"reason": "off_topic", "comment": "Not ours."}, format="json"
    )
    assert response.json()["example"]["status"] == "rejected"
    assert client.post(f"{base}/review/next/", {}, format="json").status_code == 204


def test_decisions_on_examples_of_another_project_are_not_found(api, project, annotator, reviewer):
    """Decision APIs leave reading the example to the service's locking read: it must stay within the project."""
    elsewhere = ProjectFactory(name="Elsewhere")
    MembershipFactory(project=elsewhere, user=annotator, role=Role.ANNOTATOR)
    foreign = submitted(elsewhere, annotator)
    base = f"/api/v1/projects/{project.pk}"
    for action, body in (("approve", {}), ("reject", {"reason": "off_topic"}), ("request-changes", {"comment": "x"})):
        response = api(reviewer).post(f"{base}/examples/{foreign.pk}/{action}/", body, format="json")
        assert response.status_code == 404, (action, response.content)
    assert api(reviewer).post(f"{base}/examples/{10**12}/approve/", {}, format="json").status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == S.SUBMITTED
    assert not Transition.objects.filter(example=foreign, to_status=S.APPROVED).exists()


def test_permissions_over_the_api(api, project, annotator, annotator2, reviewer, outsider):
    example = submitted(project, annotator)
    base = f"/api/v1/projects/{project.pk}"
    assert api(annotator2).post(f"{base}/examples/{example.pk}/approve/", {}, format="json").status_code == 403
    assert api(annotator2).post(f"{base}/review/next/", {}, format="json").status_code == 403
    assert api(outsider).post(f"{base}/examples/{example.pk}/approve/", {}, format="json").status_code == 404
    assert api(None).post(f"{base}/review/next/", {}, format="json").status_code in (401, 403)
    own = submitted(project, reviewer, 5)
    response = api(reviewer).post(f"{base}/examples/{own.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert "own example" in response.json()["detail"]
    bulk = {"action": "approve", "example_ids": [example.pk]}
    assert api(reviewer).post(f"{base}/review/bulk/", bulk, format="json").status_code == 403


def test_request_changes_comments_and_my_work(api, project, annotator, reviewer):
    example = submitted(project, annotator)
    base = f"/api/v1/projects/{project.pk}"
    url = f"{base}/examples/{example.pk}"
    assert api(reviewer).post(f"{url}/request-changes/", {}, format="json").status_code == 400
    response = api(reviewer).post(f"{url}/request-changes/", {"comment": "Name the menu."}, format="json")
    assert response.json()["example"]["status"] == "changes_requested"
    author = api(annotator)
    assert author.post(f"{url}/comments/", {"body": "Done, thanks."}, format="json").status_code == 201
    comments = author.get(f"{url}/comments/").json()
    assert [(c["author"], c["body"]) for c in comments] == [("rita", "Name the menu."), ("anna", "Done, thanks.")]
    mine = author.get(f"{base}/my-work/").json()
    assert [e["id"] for e in mine] == [example.pk]
    assert mine[0]["reviews"][0]["decision"] == "request_changes"
    assert len(mine[0]["comments"]) == 2


def test_edit_and_approve_and_reopen(api, project, annotator, reviewer, owner):
    example = submitted(project, annotator)
    base = f"/api/v1/projects/{project.pk}/examples/{example.pk}"
    messages = conversation(0)
    messages[1]["content"] = "Billing → Export."
    stale = api(reviewer).post(f"{base}/edit-and-approve/", {"version": 9, "messages": messages}, format="json")
    assert stale.status_code == 409
    response = api(reviewer).post(f"{base}/edit-and-approve/", {"version": 1, "messages": messages}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["example"]["version"] == 2
    assert response.json()["example"]["status"] == "approved"
    assert api(reviewer).post(f"{base}/reopen/", {}, format="json").status_code == 403
    response = api(owner).post(f"{base}/reopen/", {"comment": "Recheck"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["review_round"]) == ("submitted", 2)
    assert api(owner).post(f"{base}/reopen/", {}, format="json").status_code == 400
    reviews = api(annotator).get(f"{base}/reviews/").json()
    assert [r["decision"] for r in reviews] == ["approve"]


def test_error_findings_refuse_approval_over_the_api(api, project, annotator, reviewer):
    example = submitted(project, annotator)
    Example.objects.filter(pk=example.pk).update(
        findings=[{"code": "schema.invalid", "severity": "error", "message": "Not valid JSON", "location": "m[1]"}]
    )
    response = api(reviewer).post(f"/api/v1/projects/{project.pk}/examples/{example.pk}/approve/", {}, format="json")
    assert response.status_code == 400
    assert "Approval refused" in response.json()["detail"]
    assert response.json()["errors"]["findings"] == ["Not valid JSON"]


def test_bulk_and_stats(api, project, annotator, annotator2, owner, reviewer):
    examples = [submitted(project, annotator, n) for n in range(3)]
    base = f"/api/v1/projects/{project.pk}"
    response = api(owner).post(
        f"{base}/review/bulk/", {"action": "reject", "status": "submitted", "reason": "duplicate"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"action": "reject", "matched": 3, "changed": 3, "skipped": {}}
    assert Transition.objects.filter(reason="duplicate").count() == 3
    response = api(owner).post(
        f"{base}/review/bulk/",
        {"action": "reassign", "example_ids": [examples[0].pk], "new_author": "ben"},
        format="json",
    )
    assert response.json()["changed"] == 1
    assert api(owner).post(f"{base}/review/bulk/", {"action": "approve"}, format="json").status_code == 400
    stats = api(reviewer).get(f"{base}/review/stats/").json()
    assert stats["status_counts"]["rejected"] == 3
    assert stats["agreement"]["reviews"] == 0
    assert api(annotator).get(f"{base}/review/stats/").json()["agreement"] is None
    assert annotator2


def test_review_endpoints_are_in_the_openapi_schema(api, owner):
    response = api(owner).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/json") else None
    if schema is None:
        import yaml

        schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    operations = {op["operationId"] for methods in paths.values() for op in methods.values() if isinstance(op, dict)}
    for operation in (
        "review_next",
        "review_queue_counts",
        "review_approve",
        "review_reject",
        "review_request_changes",
        "review_edit_and_approve",
        "review_reopen",
        "review_list",
        "comments_list",
        "comments_add",
        "review_my_work",
        "review_bulk",
        "review_stats",
    ):
        assert operation in operations, operation
