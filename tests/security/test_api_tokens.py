"""Named API tokens (issue #25, finding 5): stored hashed and shown once, a scope (full REST API, or
inference only: `/v1/`), optionally one project, an expiry, last use, revocation; `Token` and `Bearer`
on both APIs; tokens made before named ones keep working. Through real HTTP (the live server).
"""

from __future__ import annotations

import datetime as dt
import re

import openai
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_create
from annotation.models import Role
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory
from tests.live_http import Visitor, error_texts
from tests.serving.adapter_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def one_proxy(settings):
    settings.ANNOTUNE_TRUSTED_PROXY_COUNT = 1


def call(live_server, method: str, path: str, key: str, *, keyword: str = "Token", **kwargs):
    visitor = Visitor(live_server.url)
    headers = {"Authorization": f"{keyword} {key}"}
    return visitor.session.request(method, visitor.url(path), headers=headers, timeout=60, **kwargs)


def model_ids(live_server, key: str, **options) -> list[str]:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=30, **options)
    return sorted(m.id for m in client.models.list())


def signed_in(live_server, user) -> Visitor:
    visitor = Visitor(live_server.url)
    assert visitor.login(user.username, PASSWORD).status_code == 302
    return visitor


def test_a_key_is_stored_hashed_and_shown_once(live_server, owner, project):
    visitor = signed_in(live_server, owner)
    page = visitor.post("/account/tokens/", {"name": "chat app", "scope": "inference", "project": str(project.pk)})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    key = re.search(r'id="api-token-value">([^<]+)<', page.text).group(1)
    token = ApiToken.objects.get(user=owner)
    assert (token.name, token.scope, token.project_id, token.expiry_date) == ("chat app", "inference", project.pk, None)
    # Only a hash is kept: no column holds the key or its secret part.
    secret = key.partition(".")[2]
    assert len(secret) >= 32
    assert token.prefix == key.partition(".")[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, prefix, hashed_key, name FROM accounts_apitoken")
        assert not [cell for row in cursor.fetchall() for cell in row if secret in str(cell)]
    listing = visitor.get("/account/tokens/").text
    assert key not in listing
    assert token.prefix in listing
    assert "Inference only (/v1/)" in listing
    assert "Support bot" in listing
    assert "never" in listing


def test_the_form_refuses_what_it_cannot_make_and_makes_nothing(live_server, owner, outsider):
    elsewhere = ProjectFactory(name="Not olivia's")
    MembershipFactory(project=elsewhere, user=outsider, role=Role.OWNER)
    visitor = signed_in(live_server, owner)
    for data, problem in [
        ({"name": "", "scope": "full"}, "Give the token a name"),
        ({"name": "x" * 51, "scope": "full"}, "at most 50 characters"),
        ({"name": "ok", "scope": "admin"}, "Use one of full, inference"),
        ({"name": "ok", "scope": "full", "project": str(elsewhere.pk)}, "Choose a project you are a member of"),
        ({"name": "ok", "scope": "full", "expires_in_days": "0"}, "from 1 to 3650"),
    ]:
        page = visitor.post("/account/tokens/", data)
        assert page.status_code == 400, data
        assert any(problem in text for text in error_texts(page.text)), (data, error_texts(page.text))
        assert 'id="api-token-value"' not in page.text
    assert not ApiToken.objects.exists()


def test_an_inference_token_reaches_v1_only(live_server, owner, project, base_model):
    _, key = api_token_create(user=owner, name="chat", scope="inference")
    assert model_ids(live_server, key) == ["tiny-llama"]  # the OpenAI client sends `Bearer <key>`
    assert call(live_server, "GET", "/v1/models", key).status_code == 200  # `Token <key>` too
    for keyword in ("Token", "Bearer"):
        for method, path in [
            ("GET", "/api/v1/projects/"),
            ("GET", f"/api/v1/projects/{project.pk}/examples/"),
            ("POST", f"/api/v1/projects/{project.pk}/members/"),
            ("GET", f"/api/v1/projects/{project.pk}/export/?file_format=jsonl"),
        ]:
            response = call(live_server, method, path, key, keyword=keyword, json={"username": "x", "role": "owner"})
            assert response.status_code == 403, (method, path, response.text)
            assert "inference only" in response.json()["detail"]


def test_a_full_token_takes_both_headers_on_both_apis(live_server, owner, project, base_model):
    _, key = api_token_create(user=owner, name="script")
    for keyword in ("Token", "Bearer", "bearer"):
        response = call(live_server, "GET", "/api/v1/projects/", key, keyword=keyword)
        assert response.status_code == 200, keyword
        assert [p["name"] for p in response.json()] == ["Support bot"]
        assert call(live_server, "GET", "/v1/models", key, keyword=keyword).status_code == 200
    assert model_ids(live_server, key) == ["tiny-llama"]


def test_a_project_token_reaches_that_project_only(live_server, owner, project, base_model):
    other = ProjectFactory(name="Second project", created_by=owner)
    MembershipFactory(project=other, user=owner, role=Role.OWNER)
    other.base_model = base_model
    other.save(update_fields=["base_model"])
    _, key = api_token_create(user=owner, name="one project", project=project)
    _, everywhere = api_token_create(user=owner, name="all")

    assert call(live_server, "GET", f"/api/v1/projects/{project.pk}/examples/", key).status_code == 200
    assert [p["id"] for p in call(live_server, "GET", "/api/v1/projects/", key).json()] == [project.pk]
    assert call(live_server, "GET", "/api/v1/base-models/", key).status_code == 200
    for method, path in [
        ("GET", f"/api/v1/projects/{other.pk}/"),
        ("GET", f"/api/v1/projects/{other.pk}/examples/"),
        ("GET", f"/api/v1/projects/{other.pk}/export/?file_format=jsonl"),
        ("POST", "/api/v1/projects/"),  # nor makes projects
    ]:
        response = call(live_server, method, path, key, json={"name": "New"})
        assert response.status_code == 403, (method, path, response.text)
        assert f"reaches project {project.pk} only" in response.json()["detail"]
    # The same account's unlimited token still reaches both.
    assert call(live_server, "GET", f"/api/v1/projects/{other.pk}/examples/", everywhere).status_code == 200
    # /v1/ serves that project's models; naming the other project finds nothing.
    listed = call(live_server, "GET", "/v1/models", key).json()["data"]
    assert {m["id"] for m in listed} == {"tiny-llama"}
    named = Visitor(live_server.url).session.get(
        f"{live_server.url}/v1/models",
        headers={"Authorization": f"Bearer {key}", "OpenAI-Project": str(other.pk)},
        timeout=30,
    )
    assert named.status_code == 404
    assert named.json()["error"]["code"] == "project_not_found"


def test_expired_and_revoked_tokens_are_refused_and_others_cannot_revoke(live_server, owner, outsider, project):
    token, key = api_token_create(user=owner, name="soon gone", expires_in_days=30)
    assert call(live_server, "GET", "/api/v1/projects/", key).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None  # the list shows when each token was last used
    ApiToken.objects.filter(pk=token.pk).update(expiry_date=timezone.now() - dt.timedelta(seconds=1))
    response = call(live_server, "GET", "/api/v1/projects/", key)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert call(live_server, "GET", "/v1/models", key).status_code == 401

    live, live_key = api_token_create(user=owner, name="revoke me")
    # Someone else cannot revoke it: the token is not found for them, and keeps working.
    stranger = signed_in(live_server, outsider)
    assert stranger.post(f"/account/tokens/{live.prefix}/revoke/").status_code == 404
    assert call(live_server, "GET", "/api/v1/projects/", live_key).status_code == 200
    # Its owner revokes it from the account page: refused from then on, listed as revoked.
    visitor = signed_in(live_server, owner)
    assert visitor.post(f"/account/tokens/{live.prefix}/revoke/").status_code == 302
    response = call(live_server, "GET", "/api/v1/projects/", live_key)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert call(live_server, "GET", "/v1/models", live_key, keyword="Bearer").status_code == 401
    listing = visitor.get("/account/tokens/").text
    assert "revoked" in listing
    assert "expired" in listing


def test_a_deactivated_account_s_tokens_stop_working(live_server, owner, project):
    _, key = api_token_create(user=owner, name="script")
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert call(live_server, "GET", "/api/v1/projects/", key).status_code == 401


def test_create_api_token_prints_a_working_key_on_its_last_line(
    live_server, owner, outsider, project, base_model, capsys
):
    call_command("create_api_token", owner.username, "--scope", "inference", "--project", str(project.pk))
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert model_ids(live_server, key) == ["tiny-llama"]
    assert call(live_server, "GET", "/api/v1/projects/", key).status_code == 403
    token = ApiToken.objects.get(user=owner)
    assert (token.name, token.scope, token.project_id) == ("command line", "inference", project.pk)

    call_command("create_api_token", owner.username)
    full = capsys.readouterr().out.strip().splitlines()[-1]
    assert call(live_server, "GET", f"/api/v1/projects/{project.pk}/examples/", full).status_code == 200
    with pytest.raises(CommandError, match="No account named 'nobody'"):
        call_command("create_api_token", "nobody")
    with pytest.raises(CommandError, match="Choose a project you are a member of"):
        call_command("create_api_token", outsider.username, "--project", str(project.pk))
    assert ApiToken.objects.count() == 2


def test_tokens_made_before_named_tokens_keep_working(live_server, owner, project):
    """The migration hashes the old plain-text tokens into named full-access tokens and empties the old
    table; the same key then works on both APIs."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("accounts.migrations.0003_apitoken")
    legacy = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id integer)")
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [legacy, timezone.now(), owner.pk],
        )
    try:
        migration.hash_plain_tokens(apps, connection.schema_editor())
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0  # no plain-text key is left behind
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE authtoken_token")
    token = ApiToken.objects.get(user=owner)
    assert (token.name, token.scope, token.prefix) == ("API token (before named tokens)", "full", legacy[:8])
    assert legacy not in token.hashed_key
    assert call(live_server, "GET", "/api/v1/projects/", legacy).status_code == 200
    assert call(live_server, "GET", "/v1/models", legacy, keyword="Bearer").status_code == 200
    assert call(live_server, "GET", "/api/v1/projects/", legacy[:8] + "0" * 32).status_code == 401
