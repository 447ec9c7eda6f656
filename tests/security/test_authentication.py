"""Missing or bad API credentials are 401 with WWW-Authenticate; a signed-in user without rights is 403."""

from __future__ import annotations

from rest_framework.test import APIClient

from accounts.services import api_token_create


def test_missing_credentials_are_401_with_challenge(db):
    response = APIClient().get("/api/v1/projects/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["detail"]


def test_bad_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["detail"] == "Invalid token."


def test_malformed_authorization_header_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token two words")
    assert client.get("/api/v1/projects/").status_code == 401


def test_token_of_inactive_user_is_401(db, owner):
    _, key = api_token_create(user=owner, name="test")
    owner.is_active = False
    owner.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/projects/").status_code == 401


def test_valid_token_without_rights_is_403_not_401(db, project, outsider):
    _, key = api_token_create(user=outsider, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get(f"/api/v1/projects/{project.pk}/members/")
    assert response.status_code in (403, 404)
    assert response.status_code != 401


def test_session_user_gets_json_not_a_challenge(client, owner):
    client.force_login(owner)
    assert client.get("/api/v1/projects/").status_code == 200
