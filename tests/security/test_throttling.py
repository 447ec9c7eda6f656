"""Failed sign-ins (per account and address, per address) and invalid API tokens (per address) lock out
for a window; no lockout a stranger causes keeps anyone else out (issue #25, finding 6)."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_token_create
from tests.factories import PASSWORD, UserFactory

LOCKOUT = 2  # seconds: short, so that the end of the lockout is tested too


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.ANNOTUNE_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.ANNOTUNE_LOGIN_FAILURES_PER_ADDRESS = 5
    settings.ANNOTUNE_TOKEN_FAILURES_PER_ADDRESS = 4
    settings.ANNOTUNE_THROTTLE_WINDOW_SECONDS = 60
    settings.ANNOTUNE_THROTTLE_LOCKOUT_SECONDS = LOCKOUT


def login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_account_locks_from_the_guessing_address_only_then_unlocks(db):
    user = UserFactory(username="locky")
    guesser = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        response = login(guesser, user.username, "wrong")
        assert response.status_code == 200  # the form again, "enter a correct username and password"
        assert "didn't match" in response.content.decode()
    # Locked from that address: even the right password is refused there, with the reason and a 429.
    response = login(Client(REMOTE_ADDR="10.0.0.1"), user.username, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-in attempts for this account from your address" in page
    assert "_auth_user_id" not in response.wsgi_request.session
    # The account's owner, elsewhere, signs in as usual: a stranger cannot lock them out.
    response = login(Client(REMOTE_ADDR="10.0.0.2"), user.username, PASSWORD)
    assert response.status_code == 302
    assert response.wsgi_request.session["_auth_user_id"] == str(user.pk)
    # Other accounts from the guessing address are not affected (until the address limit).
    other = UserFactory(username="other")
    assert login(Client(REMOTE_ADDR="10.0.0.1"), other.username, PASSWORD).status_code == 302
    # After the lockout the right password works again from there too.
    time.sleep(LOCKOUT + 0.2)
    response = login(Client(REMOTE_ADDR="10.0.0.1"), user.username, PASSWORD)
    assert response.status_code == 302


def test_the_account_lock_ignores_the_usernames_case(db):
    user = UserFactory(username="casey")
    guesser = Client(REMOTE_ADDR="10.0.4.1")
    for name in ("casey", "CASEY", "Casey"):
        login(guesser, name, "wrong")
    assert login(Client(REMOTE_ADDR="10.0.4.1"), user.username, PASSWORD).status_code == 429


def test_address_locks_after_failures_on_many_accounts(db):
    client = Client(REMOTE_ADDR="10.0.0.9")
    for n in range(5):  # one failure each: no account reaches its limit
        assert login(client, f"nobody{n}", "wrong").status_code == 200
    real = UserFactory(username="real")
    response = login(client, real.username, PASSWORD)
    assert response.status_code == 429
    assert "from your address" in response.content.decode()
    # Another address signs in as usual.
    assert login(Client(REMOTE_ADDR="10.0.0.10"), real.username, PASSWORD).status_code == 302


def test_successful_sign_in_resets_the_account_count(db):
    user = UserFactory(username="forgetful")
    client = Client(REMOTE_ADDR="10.0.1.1")
    for _ in range(2):
        login(client, user.username, "wrong")
    assert login(client, user.username, PASSWORD).status_code == 302
    client = Client(REMOTE_ADDR="10.0.1.1")
    for _ in range(2):
        assert login(client, user.username, "wrong").status_code == 200
    assert login(client, user.username, PASSWORD).status_code == 302


def test_admin_login_is_throttled_too(db):
    user = UserFactory(username="staffer")
    user.is_staff = True
    user.save()
    client = Client(REMOTE_ADDR="10.0.2.1")
    for _ in range(3):
        client.post("/admin/login/", {"username": user.username, "password": "wrong"})
    response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200  # the admin's form again: not signed in
    assert "_auth_user_id" not in client.session


def test_invalid_tokens_lock_the_address_then_unlock(db):
    user = UserFactory(username="tokened")
    _, key = api_token_create(user=user, name="test")
    bad = APIClient(REMOTE_ADDR="10.0.3.1")
    bad.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    for _ in range(4):
        response = bad.get("/api/v1/projects/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    response = bad.get("/api/v1/projects/")
    assert response.status_code == 429
    assert "invalid API token" in response.json()["detail"]
    assert 0 < int(response["Retry-After"]) <= LOCKOUT
    # Locked for invalid tokens only: a valid token from the same address works (another client
    # behind the same address is not punished for a stranger's bad tokens).
    good = APIClient(REMOTE_ADDR="10.0.3.1")
    good.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert good.get("/api/v1/projects/").status_code == 200
    assert bad.get("/api/v1/projects/").status_code == 429
    time.sleep(LOCKOUT + 0.2)
    assert bad.get("/api/v1/projects/").status_code == 401


def test_address_behind_trusted_proxy(db, settings):
    settings.ANNOTUNE_TRUSTED_PROXY_COUNT = 1
    for n in range(5):
        login(Client(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.7"), f"x{n}", "wrong")
    user = UserFactory(username="behindproxy")
    locked = Client(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert login(locked, user.username, PASSWORD).status_code == 429
    # The proxy's own address is not what is locked: another client behind it signs in.
    other = Client(REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert login(other, user.username, PASSWORD).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_stranger_cannot_lock_anyone_out_over_http(live_server, settings):
    """Through the web server: wrong passwords and bad tokens from one address leave the account's
    owner, and a valid token from that very address, working."""
    from tests.live_http import Visitor

    settings.ANNOTUNE_TRUSTED_PROXY_COUNT = 1
    victim = UserFactory(username="victim-http")
    key = api_token_create(user=victim, name="test")[1]
    stranger = Visitor(live_server.url, address="192.0.2.66")
    for _ in range(3):
        assert stranger.login("victim-http", "guess").status_code == 200
    assert stranger.login("victim-http", PASSWORD).status_code == 429  # the stranger's address learns nothing
    owner = Visitor(live_server.url, address="192.0.2.10")
    assert owner.login("victim-http", PASSWORD).status_code == 302
    assert owner.signed_in()
    for _ in range(5):
        stranger.api("GET", "/api/v1/projects/", token="f" * 40)
    assert stranger.api("GET", "/api/v1/projects/", token="f" * 40).status_code == 429
    assert stranger.api("GET", "/api/v1/projects/", token=key).status_code == 200
