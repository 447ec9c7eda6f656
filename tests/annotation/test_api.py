"""REST API v1: projects, members, examples with revisions, schema and docs."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import api_token_create
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def test_project_crud_and_members(api, owner, outsider):
    client = api(owner)
    created = client.post(
        "/api/v1/projects/",
        {"name": "Docs bot", "categories": [{"name": "howto", "target_share": 0.7}], "reviews_required": 2},
        format="json",
    )
    assert created.status_code == 201, created.json()
    pid = created.json()["id"]
    assert [p["name"] for p in client.get("/api/v1/projects/").json()] == ["Docs bot"]
    patched = client.patch(f"/api/v1/projects/{pid}/", {"guidelines": "# Be kind"}, format="json")
    assert patched.json()["guidelines"] == "# Be kind"

    invited = client.post(f"/api/v1/projects/{pid}/members/", {"username": outsider.username}, format="json")
    assert invited.status_code == 202  # an invitation: nobody joins without accepting
    assert (invited.json()["invitee"], invited.json()["role"]) == (outsider.username, "annotator")
    assert [m["username"] for m in client.get(f"/api/v1/projects/{pid}/members/").json()] == [owner.username]
    invitee = Client()
    invitee.force_login(outsider)
    accept = invited.json()["accept_url"]
    assert invitee.get(accept[accept.index("/invite/") :]).status_code == 302
    assert invitee.post("/invite/accept/", {"action": "join"}).status_code == 302
    changed = client.patch(f"/api/v1/projects/{pid}/members/{outsider.pk}/", {"role": "reviewer"}, format="json")
    assert changed.json()["role"] == "reviewer"
    roles = {m["username"]: m["role"] for m in client.get(f"/api/v1/projects/{pid}/members/").json()}
    assert roles == {owner.username: "owner", outsider.username: "reviewer"}
    assert client.delete(f"/api/v1/projects/{pid}/members/{outsider.pk}/").status_code == 204


def test_example_lifecycle_with_revisions(api, project, annotator, two_turns):
    client = api(annotator)
    base = f"/api/v1/projects/{project.pk}/examples/"
    created = client.post(base, {"messages": two_turns, "category": "billing"}, format="json")
    assert created.status_code == 201
    example = created.json()
    assert (example["status"], example["version"], example["author"]) == ("draft", 1, annotator.username)

    url = f"{base}{example['id']}/"
    edited = client.patch(url, {"version": 1, "context": "Security settings page"}, format="json").json()
    assert edited["version"] == 2
    submitted = client.post(f"{url}submit/", {"version": 2}, format="json")
    assert submitted.json()["status"] == "submitted"

    revisions = client.get(f"{url}revisions/").json()
    assert [r["version"] for r in revisions] == [2, 1]
    assert revisions[0]["changed_fields"] == ["context"]


def test_example_list_filters_and_cursor(api, project, annotator, annotator2):
    ExampleFactory.create_batch(3, project=project, author=annotator, category="billing")
    ExampleFactory.create_batch(2, project=project, author=annotator2, status="submitted")
    client = api(annotator)
    base = f"/api/v1/projects/{project.pk}/examples/"
    assert len(client.get(base).json()["results"]) == 5
    assert len(client.get(base, {"author": annotator2.username}).json()["results"]) == 2
    assert len(client.get(base, {"status": "submitted"}).json()["results"]) == 2
    assert len(client.get(base, {"category": "billing"}).json()["results"]) == 3
    assert len(client.get(base, {"q": "INVOICE"}).json()["results"]) == 5

    page = client.get(base, {"page_size": 2}).json()
    seen = [e["id"] for e in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [e["id"] for e in page["results"]]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 5


def test_token_authentication(owner, project):
    _, key = api_token_create(user=owner, name="test")
    client = APIClient()
    assert client.get("/api/v1/projects/").status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    listed = client.get("/api/v1/projects/")
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [project.pk]
    assert client.get(f"/api/v1/projects/{project.pk}/").json()["name"] == project.name

    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    refused = client.get("/api/v1/projects/")
    assert refused.status_code in (401, 403)
    assert refused.json()["detail"] == "Invalid token."

    owner.is_active = False
    owner.save(update_fields=["is_active"])
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    inactive = client.get("/api/v1/projects/")
    assert inactive.status_code in (401, 403)
    assert inactive.json()["detail"] == "User inactive or deleted."


def test_project_ids_out_of_range_are_not_found(api, owner, project):
    client = api(owner)
    assert client.get(f"/api/v1/projects/{2**63}/").status_code == 404
    assert client.get(f"/api/v1/projects/{10**30}/examples/").status_code == 404
    assert client.get(f"/api/v1/projects/{project.pk}/").status_code == 200


def test_schema_and_docs(api, owner, client):
    schema = api(owner).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    body = schema.json() if schema["Content-Type"].startswith("application/vnd.oai.openapi+json") else None
    text = schema.content.decode()
    assert "/api/v1/projects/{project_id}/examples/" in text
    if body is not None:
        assert body["openapi"].startswith("3.")
    client.force_login(owner)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.content


def test_inviting_answers_the_same_whether_or_not_the_account_exists(api, project, owner, outsider):
    client = api(owner)
    url = f"/api/v1/projects/{project.pk}/members/"
    known = client.post(url, {"username": outsider.username}, format="json")
    unknown = client.post(url, {"username": "nobody-by-this-name"}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert set(known.json()) == set(unknown.json())
    assert known.json()["detail"].replace(outsider.username, "X") == unknown.json()["detail"].replace(
        "nobody-by-this-name", "X"
    )
    already = client.post(url, {"username": owner.username}, format="json")
    assert already.status_code == 400
    assert "username" in already.json()["errors"], already.json()
