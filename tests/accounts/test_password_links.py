"""Password links are judged when they are used (accounts/tokens.py), and owners reset only accounts
their own invitation created.

The attacks (issue #25, finding 2): an owner's reset link, made while the account belonged only to their
projects, still set its password after another project added the account; an account with no
membership was taken over by adding it to one's project, then resetting it.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation
from accounts.services import api_token_create
from accounts.tokens import password_link_tokens
from annotation.models import Membership, Role
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory
from tests.live_http import Visitor

NEW_PASSWORD = "violet-stapler-1987"
LINK = re.compile(r'id="password-link" readonly value="https?://[^/"]+(/reset/[^"]+/)"')


def created_by_invitation(user, project) -> Invitation:
    return Invitation.objects.create(
        project=project,
        username=user.username,
        token_hash=f"{user.pk:064d}",
        expires_at=timezone.now() + timedelta(days=1),
        accepted_at=timezone.now(),
        accepted_by=user,
        created_account=True,
    )


def reset_link(browser: Visitor, user) -> str:
    response = browser.post(f"/users/{user.pk}/", {"action": "reset-link"})
    assert response.status_code == 200, response.status_code
    match = LINK.search(response.text)
    assert match, "the one-time link is shown"
    return match.group(1)


def open_link(visitor: Visitor, link: str):
    """As the recipient: the link redirects to a token-free form, returned with its URL."""
    response = visitor.get(link)
    if response.status_code != 302:
        return None
    form = visitor.get(response.headers["Location"])
    return response.headers["Location"] if "Set your password" in form.text else None


def set_password(visitor: Visitor, form_url: str):
    return visitor.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})


@pytest.fixture
def world(db, settings):
    """olivia owns "Support bot"; anna's account came from its invitation; oscar owns "Other"."""
    settings.ANNOTUNE_TRUSTED_PROXY_COUNT = 1
    olivia, anna, oscar = (UserFactory(username=n) for n in ("olivia", "anna", "oscar"))
    project = ProjectFactory(name="Support bot", created_by=olivia)
    MembershipFactory(project=project, user=olivia, role=Role.OWNER)
    MembershipFactory(project=project, user=anna, role=Role.ANNOTATOR)
    created_by_invitation(anna, project)
    other = ProjectFactory(name="Other", created_by=oscar)
    MembershipFactory(project=other, user=oscar, role=Role.OWNER)
    return {"olivia": olivia, "anna": anna, "oscar": oscar, "project": project, "other": other}


def password_unchanged(user) -> bool:
    return get_user_model().objects.get(pk=user.pk).check_password(PASSWORD)


@pytest.mark.django_db(transaction=True)
def test_a_reset_link_dies_when_the_account_joins_another_project(live_server, world):
    """Over HTTP: olivia's link for anna, opened before and after oscar's project adds anna."""
    owner = Visitor(live_server.url, address="203.0.113.1")
    assert owner.login("olivia", PASSWORD).status_code == 302
    link = reset_link(owner, world["anna"])
    early = Visitor(live_server.url, address="203.0.113.2")
    form_url = open_link(early, link)  # opened while the link was allowed: the token sits in the session
    assert form_url is not None
    assert "/set-password/" in form_url

    # oscar invites anna to his project through the API, and anna joins with the link.
    token = api_token_create(user=world["oscar"], name="test")[1]
    invited = Visitor(live_server.url, address="203.0.113.3").api(
        "POST", f"/api/v1/projects/{world['other'].pk}/members/", token=token, json={"username": "anna"}
    )
    assert invited.status_code == 202
    assert not Membership.objects.filter(project=world["other"], user=world["anna"]).exists()  # not without consent
    anna = Visitor(live_server.url, address="203.0.113.6")
    assert anna.login("anna", PASSWORD).status_code == 302
    accept = invited.json()["accept_url"]
    assert anna.get(accept[accept.index("/invite/") :]).status_code == 302  # to the token-free page
    assert anna.post("/invite/accept/", {"action": "join"}).status_code == 302
    assert Membership.objects.filter(project=world["other"], user=world["anna"]).exists()

    refused = set_password(early, form_url)
    assert refused.status_code == 200
    assert "This link does not work" in refused.text
    assert open_link(Visitor(live_server.url, address="203.0.113.4"), link) is None
    assert password_unchanged(world["anna"])


@pytest.mark.django_db(transaction=True)
def test_an_account_with_no_membership_cannot_be_taken_over(live_server, world):
    """Over HTTP: olivia adds an existing account to her project, then asks for its reset link."""
    loner = UserFactory(username="loner")
    token = api_token_create(user=world["olivia"], name="test")[1]
    owner = Visitor(live_server.url, address="203.0.113.5")
    invited = owner.api(
        "POST", f"/api/v1/projects/{world['project'].pk}/members/", token=token, json={"username": "loner"}
    )
    assert invited.status_code == 202  # an invitation: loner joins only by accepting it
    assert not Membership.objects.filter(user=loner).exists()
    assert owner.login("olivia", PASSWORD).status_code == 302
    assert 'aria-label="Reset link for loner"' not in owner.get("/users/").text
    assert owner.post(f"/users/{loner.pk}/", {"action": "reset-link"}).status_code == 404  # not hers to see
    assert password_unchanged(loner)


def test_a_link_dies_when_its_issuer_is_no_longer_owner(world):
    olivia, anna, project = world["olivia"], world["anna"], world["project"]
    other_owner = UserFactory(username="otto")
    MembershipFactory(project=project, user=other_owner, role=Role.OWNER)
    client = Client()
    client.force_login(olivia)
    link = LINK.search(client.post(f"/users/{anna.pk}/", {"action": "reset-link"}).content.decode()).group(1)
    assert "Set your password" in Client().get(link, follow=True).content.decode()  # works now
    Membership.objects.filter(project=project, user=olivia).update(role=Role.ANNOTATOR)
    page = Client().get(link, follow=True).content.decode()
    assert "This link does not work" in page
    assert password_unchanged(anna)


def test_a_link_dies_when_a_role_changes_and_works_once(world):
    anna, project = world["anna"], world["project"]
    link_token = password_link_tokens.make_token(anna, issuer=world["olivia"])
    assert password_link_tokens.check_token(anna, link_token)
    Membership.objects.filter(project=project, user=anna).update(role=Role.REVIEWER)
    assert not password_link_tokens.check_token(anna, link_token)
    fresh = password_link_tokens.make_token(anna, issuer=world["olivia"])
    anna.set_password(NEW_PASSWORD)
    anna.save()
    assert not password_link_tokens.check_token(anna, fresh)  # used: the password changed


def test_tampered_tokens_are_refused(world):
    anna, olivia, oscar = world["anna"], world["olivia"], world["oscar"]
    token = password_link_tokens.make_token(anna, issuer=olivia)
    issuer, rest = token.split(".", 1)
    # Naming another issuer (one who could never make it) breaks the signature.
    from django.utils.http import int_to_base36

    assert not password_link_tokens.check_token(anna, f"{int_to_base36(oscar.pk)}.{rest}")
    assert not password_link_tokens.check_token(anna, rest)  # dropping the issuer too
    for bad in ("", "x", "zz.1-2", "a" * 200, f"{issuer}.{rest}x"):
        assert not password_link_tokens.check_token(anna, bad)
    own = password_link_tokens.make_token(anna)  # "Forgot password?": no issuer
    assert "." not in own
    assert password_link_tokens.check_token(anna, own)


def test_staff_links_keep_working_for_accounts_in_any_project(world):
    staff = UserFactory(username="stella", is_staff=True)
    token = password_link_tokens.make_token(world["anna"], issuer=staff)
    assert password_link_tokens.check_token(world["anna"], token)
    staff.is_staff = False
    staff.save()
    assert not password_link_tokens.check_token(world["anna"], token)  # no longer staff: the link dies
