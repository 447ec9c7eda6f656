"""Members page: owners invite people (with or without an account: the same answer); invitation links
work once; an existing account joins by accepting while logged in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation
from accounts.services import token_hash
from annotation.models import Membership, Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "violet-stapler-1987"
LINK = re.compile(r'id="invitation-link" readonly value="(http://testserver/invite/([A-Za-z0-9_-]+)/)"')


def members_url(project) -> str:
    return f"/projects/{project.pk}/members/"


def invite(client, project, identifier, role="annotator"):
    return client.post(members_url(project), {"action": "add", "identifier": identifier, "role": role})


def link_in(response) -> tuple[str, str]:
    match = LINK.search(response.content.decode())
    assert match, "the one-time link is shown in the copy box"
    return match.group(1), match.group(2)


def answer_text(response) -> str:
    """The page's answer with the one-time link and who was invited taken out (they differ per call)."""
    page = response.content.decode()
    page = LINK.sub("LINK", page)
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
    page = re.sub(r'"X-CSRFToken": "[^"]+"', "", page)
    return re.sub(r"[\w.+-]+@example\.org|\bsam\b|\bnobody\b", "WHO", page)


def test_adding_tells_nothing_about_whether_an_account_exists(client_as, project, owner):
    """By e-mail or username, an existing account and an unknown one get the same answer: an
    invitation, and nobody is added (they join by accepting)."""
    someone = UserFactory(username="sam", email="Sam@Example.org")
    client = client_as(owner)
    existing = invite(client, project, "sam@example.org", "annotator")
    unknown = invite(client, project, "nobody@example.org", "annotator")
    assert existing.status_code == unknown.status_code == 200
    existing_text, unknown_text = answer_text(existing), answer_text(unknown)
    pending_rows = re.compile(r"<h2>Pending invitations</h2>.*", re.S)  # lists both: compare the answer part
    assert pending_rows.sub("", existing_text) == pending_rows.sub("", unknown_text)
    assert "Invitation created for sam@example.org" in existing.content.decode()
    by_name = invite(client, project, "sam", "reviewer")
    nobody = invite(client, project, "nobody", "reviewer")
    assert by_name.status_code == nobody.status_code == 200
    assert pending_rows.sub("", answer_text(by_name)) == pending_rows.sub("", answer_text(nobody))
    assert not Membership.objects.filter(project=project, user=someone).exists()
    assert Invitation.objects.filter(project=project).count() == 4


def test_an_existing_account_joins_by_accepting_while_logged_in(client_as, project, owner, outsider):
    _, token = link_in(invite(client_as(owner), project, "oscar", "reviewer"))
    visitor = Client()
    first = visitor.get(f"/invite/{token}/")
    assert first.status_code == 302
    assert first["Location"] == "/invite/accept/"  # the token leaves the address bar (and access logs)
    page = visitor.get("/invite/accept/").content.decode()
    assert token not in page
    assert 'id="login-to-join"' in page
    assert "/login/?next=%2Finvite%2Faccept%2F" in page
    # Logged in as oscar, the same session joins with one button.
    visitor.force_login(outsider)
    page = visitor.get("/invite/accept/").content.decode()
    assert "Join as oscar" in page
    joined = visitor.post("/invite/accept/", {"action": "join"})
    assert joined.status_code == 302
    assert joined["Location"] == f"/projects/{project.pk}/"
    assert Membership.objects.get(project=project, user=outsider).role == Role.REVIEWER
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == outsider
    assert not invitation.created_account
    # Used: the link says so.
    again = visitor.get(f"/invite/{token}/")
    assert again.status_code == 410
    assert "already used" in again.content.decode()


def test_a_username_invitation_is_only_for_that_account(client_as, project, owner, outsider):
    """Logged in as someone else, the invitation for "oscar" cannot be accepted with that account."""
    _, token = link_in(invite(client_as(owner), project, "oscar", "reviewer"))
    intruder = UserFactory(username="mallory")
    client = client_as(intruder)
    client.get(f"/invite/{token}/")
    page = client.get("/invite/accept/").content.decode()
    assert "log in as oscar to accept it" in page
    assert "Join as mallory" not in page
    refused = client.post("/invite/accept/", {"action": "join"})
    assert refused.status_code == 400
    assert not Membership.objects.filter(project=project, user=intruder).exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_e_mail_invitation_joins_the_logged_in_account(client_as, project, owner):
    someone = UserFactory(username="sam", email="sam@example.org")
    _, token = link_in(invite(client_as(owner), project, "sam@example.org", "annotator"))
    client = client_as(someone)
    assert client.post(f"/invite/{token}/", {"action": "join"}).status_code == 302
    assert Membership.objects.get(project=project, user=someone).role == Role.ANNOTATOR
    # A member already: another invitation is answered without adding twice.
    _, token = link_in(invite(client_as(owner), project, "sam2@example.org", "reviewer"))
    again = client.post(f"/invite/{token}/", {"action": "join"})
    assert again.status_code == 400
    assert "already a member" in again.content.decode()
    assert Membership.objects.get(project=project, user=someone).role == Role.ANNOTATOR


def test_invitation_by_email_end_to_end(client_as, project, owner):
    response = invite(client_as(owner), project, "maria@example.org", "reviewer")
    assert response.status_code == 200
    url, token = link_in(response)
    invitation = Invitation.objects.get()
    assert invitation.email == "maria@example.org"
    assert invitation.role == Role.REVIEWER
    assert invitation.token_hash == token_hash(token)
    assert token not in invitation.token_hash
    assert invitation.invited_by == owner
    assert timedelta(days=6) < invitation.expires_at - timezone.now() <= timedelta(days=7)
    # Mailed (tests use the locmem backend), and the page says so.
    assert len(mail.outbox) == 1
    assert url in mail.outbox[0].body
    assert mail.outbox[0].to == ["maria@example.org"]
    assert "Sent by e-mail to" in response.content.decode()
    # Pending, listed with "New link" and "Revoke".
    page = client_as(owner).get(members_url(project)).content.decode()
    assert "Pending invitations" in page
    assert "maria@example.org" in page
    assert "Revoke" in page

    visitor = Client()
    form = visitor.get(f"/invite/{token}/", follow=True)
    assert form.status_code == 200
    assert "Set your password" in form.content.decode()
    assert 'value="maria"' in form.content.decode()  # username suggested from the address
    done = visitor.post(
        f"/invite/{token}/", {"username": "maria.k", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert done["Location"] == f"/projects/{project.pk}/"
    user = get_user_model().objects.get(username="maria.k")
    assert user.email == "maria@example.org"
    assert user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(project=project, user=user).role == Role.REVIEWER
    assert visitor.get(f"/projects/{project.pk}/").status_code == 200  # logged in as maria.k
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert invitation.accepted_by == user

    # The link works once: a second use says so and changes nothing.
    again = Client().post(
        f"/invite/{token}/", {"username": "other", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert again.status_code == 410
    assert "already used" in again.content.decode()
    assert not get_user_model().objects.filter(username="other").exists()


def test_invitation_by_unknown_username_fixes_the_name(client_as, project, owner):
    response = invite(client_as(owner), project, "newbie", "annotator")
    _, token = link_in(response)
    assert "send it to them" in response.content.decode()  # no address: nothing mailed
    assert mail.outbox == []
    visitor = Client()
    page = visitor.get(f"/invite/{token}/", follow=True).content.decode()
    assert 'id="fixed-username" value="newbie" readonly' in page
    done = visitor.post(
        f"/invite/{token}/", {"username": "sneaky", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert Membership.objects.get(project=project, user__username="newbie").role == Role.ANNOTATOR
    assert not get_user_model().objects.filter(username="sneaky").exists()


def test_weak_or_mismatched_password_is_refused_and_the_link_still_works(client_as, project, owner):
    _, token = link_in(invite(client_as(owner), project, "pat@example.org"))
    weak = Client().post(f"/invite/{token}/", {"username": "pat", "password1": "123", "password2": "123"})
    assert weak.status_code == 400
    assert "too short" in weak.content.decode()
    differ = Client().post(f"/invite/{token}/", {"username": "pat", "password1": NEW_PASSWORD, "password2": "x"})
    assert "two passwords differ" in differ.content.decode()
    taken = Client().post(
        f"/invite/{token}/", {"username": "OLIVIA", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert "is taken" in taken.content.decode()
    assert not get_user_model().objects.filter(username="pat").exists()
    assert Invitation.objects.get().accepted_at is None
    assert Client().get(f"/invite/{token}/", follow=True).status_code == 200


def test_expired_revoked_and_wrong_links_show_a_clear_page(client_as, project, owner):
    _, expired = link_in(invite(client_as(owner), project, "exp@example.org"))
    Invitation.objects.filter(email="exp@example.org").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(f"/invite/{expired}/")
    assert response.status_code == 410
    assert "has expired" in response.content.decode()

    _, revoked = link_in(invite(client_as(owner), project, "rev@example.org"))
    invitation = Invitation.objects.get(email="rev@example.org")
    response = client_as(owner).post(members_url(project), {"action": "revoke-invitation", "invitation": invitation.pk})
    assert response.status_code == 302
    response = Client().post(
        f"/invite/{revoked}/", {"username": "rev", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()

    for bad in ("x" * 43, "short", "%3Cscript%3E" + "a" * 30):
        response = Client().get(f"/invite/{bad}/")
        assert response.status_code == 404
        assert "not valid" in response.content.decode()
    assert get_user_model().objects.count() == 4  # the fixture's users only
    assert Membership.objects.count() == 4


def test_new_link_replaces_the_old_one(client_as, project, owner):
    _, old = link_in(invite(client_as(owner), project, "lee@example.org"))
    invitation = Invitation.objects.get()
    response = client_as(owner).post(members_url(project), {"action": "renew-invitation", "invitation": invitation.pk})
    _, new = link_in(response)
    assert new != old
    assert Client().get(f"/invite/{old}/").status_code == 404
    assert Client().get(f"/invite/{new}/", follow=True).status_code == 200
    # Inviting the same address again also replaces the pending invitation.
    _, third = link_in(invite(client_as(owner), project, "LEE@example.org"))
    assert Client().get(f"/invite/{new}/").status_code == 410
    assert Invitation.objects.filter(accepted_at=None, revoked_at=None).count() == 1


def test_mail_failure_does_not_fail_the_invitation(client_as, project, owner, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    response = invite(client_as(owner), project, "far@example.org")
    assert response.status_code == 200
    link_in(response)
    assert "could not be sent" in response.content.decode()
    assert Invitation.objects.filter(email="far@example.org").exists()


def test_only_owners_invite_and_outsiders_get_404(client_as, project, reviewer, annotator, outsider):
    for user in (reviewer, annotator):
        response = invite(client_as(user), project, "eve@example.org", "owner")
        assert response.status_code == 403
        page = client_as(user).get(members_url(project)).content.decode()
        assert "Add member" not in page
        assert "Pending invitations" not in page
    assert invite(client_as(outsider), project, "eve@example.org").status_code == 404
    assert client_as(outsider).get(members_url(project)).status_code == 404
    assert not Invitation.objects.exists()


def test_owner_of_another_project_cannot_manage_this_projects_invitations(client_as, project, owner, outsider):
    other = project.__class__.objects.create(name="Other", created_by=outsider)
    MembershipFactory(project=other, user=outsider, role=Role.OWNER)
    invite(client_as(owner), project, "zed@example.org")
    invitation = Invitation.objects.get()
    response = client_as(outsider).post(
        members_url(other), {"action": "revoke-invitation", "invitation": invitation.pk}
    )
    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("", "This field is required"),
        ("two words", "cannot be a username"),
        ("bad@", "neither a username nor an e-mail"),
        ("<script>alert(1)</script>", "cannot be a username"),
    ],
)
def test_bad_identifiers_are_refused_with_a_reason(client_as, project, owner, identifier, message):
    response = invite(client_as(owner), project, identifier)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "<script>alert(1)</script>" not in page
    assert not Invitation.objects.exists()


def test_existing_member_and_bad_role_are_refused(client_as, project, owner):
    response = invite(client_as(owner), project, "anna")
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    response = invite(client_as(owner), project, "newperson", "king")
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_user_supplied_names_are_escaped(client_as, project, owner):
    UserFactory(username="<b>bold</b>")
    MembershipFactory(project=project, user=get_user_model().objects.get(username="<b>bold</b>"))
    page = client_as(owner).get(members_url(project)).content.decode()
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_members_page_has_readable_remove_buttons(client_as, project, owner):
    page = client_as(owner).get(members_url(project)).content.decode()
    assert 'aria-label="Remove anna"' in page
    assert 'class="outline-danger"' in page
    assert 'class="member-add-form"' in page
    assert "Username or e-mail" in page


def test_members_page_queries_do_not_grow_with_members(client_as, project, owner, django_assert_max_num_queries):
    client = client_as(owner)
    for n in range(10):
        MembershipFactory(project=project, user=UserFactory(username=f"extra{n}"))
        Invitation.objects.create(
            project=project,
            username=f"inv{n}",
            invited_by=owner,
            token_hash=f"{n:064d}",
            expires_at=timezone.now() + timedelta(days=1),
        )
    with django_assert_max_num_queries(10):
        assert client.get(members_url(project)).status_code == 200
