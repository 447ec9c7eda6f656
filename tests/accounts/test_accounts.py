"""Accounts: staff's Users page, one-time password links, password change and reset, sign-up, nav, favicon."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from annotation.models import Role
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "violet-stapler-1987"
PASSWORD_LINK = re.compile(r'id="password-link" readonly value="http://testserver(/reset/[^"]+/)"')


@pytest.fixture
def staff(db):
    return UserFactory(username="stella", is_staff=True)


def created_by_invitation(user, project):
    """Record that an invitation to `project` created `user`'s account (owners may reset only those)."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Invitation

    return Invitation.objects.create(
        project=project,
        username=user.username,
        token_hash=f"{user.pk:064d}",
        expires_at=timezone.now() + timedelta(days=1),
        accepted_at=timezone.now(),
        accepted_by=user,
        created_account=True,
    )


def link_in(response) -> str:
    match = PASSWORD_LINK.search(response.content.decode())
    assert match, "the one-time link is shown in the copy box"
    return match.group(1)


def set_password_through(link: str, client: Client | None = None, password: str = NEW_PASSWORD):
    """Open a password link as its recipient would: Django redirects to a token-free URL first."""
    client = client or Client()
    page = client.get(link, follow=True)
    assert page.status_code == 200
    assert "Set your password" in page.content.decode()
    form_url = page.redirect_chain[-1][0]
    return client, client.post(form_url, {"new_password1": password, "new_password2": password})


# --- Users page -----------------------------------------------------------------------------------


def test_staff_create_user_with_a_password(client_as, staff):
    client = client_as(staff)
    response = client.post(
        "/users/",
        {"username": "pia", "email": "", "sign_in": "password", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert Client().login(username="pia", password=NEW_PASSWORD)
    assert "User pia created" in client.get("/users/").content.decode()


def test_staff_create_user_with_an_invitation_link(client_as, staff):
    response = client_as(staff).post(
        "/users/", {"username": "quinn", "email": "quinn@example.org", "sign_in": "invite"}
    )
    assert response.status_code == 200
    link = link_in(response)
    assert len(mail.outbox) == 1
    assert link in mail.outbox[0].body
    user = get_user_model().objects.get(username="quinn")
    assert not user.has_usable_password()
    client, done = set_password_through(link)
    assert done.status_code == 302
    assert done["Location"] == "/projects/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.get("/projects/").status_code == 200  # logged in
    # The link worked once.
    again = Client().get(link, follow=True)
    assert "This link does not work" in again.content.decode()


def test_create_user_refuses_bad_input_and_changes_nothing(client_as, staff, owner):
    client = client_as(staff)
    cases = [
        ({"username": "OLIVIA", "sign_in": "invite"}, "is taken"),
        ({"username": "two words", "sign_in": "invite"}, "no spaces"),
        ({"username": "ok", "email": "nope", "sign_in": "invite"}, "not an e-mail address"),
        ({"username": "ok", "sign_in": "password", "password1": "", "password2": ""}, "Type a password"),
        ({"username": "ok", "sign_in": "password", "password1": "abc", "password2": "abc"}, "too short"),
        ({"username": "ok", "sign_in": "password", "password1": NEW_PASSWORD, "password2": "x"}, "differ"),
    ]
    for data, message in cases:
        response = client.post("/users/", data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), data
    assert get_user_model().objects.count() == 2


def test_only_staff_create_users_and_outsiders_get_404(client_as, project, owner, annotator):
    assert client_as(annotator).get("/users/").status_code == 404
    assert client_as(annotator).post("/users/", {"username": "x", "sign_in": "invite"}).status_code == 404
    # Owners see their members (for reset links) but cannot create accounts.
    page = client_as(owner).get("/users/")
    assert page.status_code == 200
    assert "Create a user" not in page.content.decode()
    assert client_as(owner).post("/users/", {"username": "x", "sign_in": "invite"}).status_code == 404
    assert Client().get("/users/").status_code == 302  # to the login page
    assert not get_user_model().objects.filter(username="x").exists()


def test_staff_deactivate_and_reactivate(client_as, staff, annotator):
    client = client_as(staff)
    assert client.post(f"/users/{annotator.pk}/", {"action": "deactivate"}).status_code == 302
    annotator.refresh_from_db()
    assert not annotator.is_active
    assert not Client().login(username="anna", password=PASSWORD)
    client.post(f"/users/{annotator.pk}/", {"action": "activate"})
    annotator.refresh_from_db()
    assert annotator.is_active
    # Not oneself, and plain staff cannot deactivate other staff.
    other_staff = UserFactory(username="steve", is_staff=True)
    client.post(f"/users/{staff.pk}/", {"action": "deactivate"})
    client.post(f"/users/{other_staff.pk}/", {"action": "deactivate"})
    staff.refresh_from_db()
    other_staff.refresh_from_db()
    assert staff.is_active
    assert other_staff.is_active


def test_reset_link_from_the_users_page(client_as, staff, annotator):
    response = client_as(staff).post(f"/users/{annotator.pk}/", {"action": "reset-link"})
    assert response.status_code == 200
    link = link_in(response)
    _, done = set_password_through(link)
    assert done.status_code == 302
    annotator.refresh_from_db()
    assert annotator.check_password(NEW_PASSWORD)


def test_owner_reset_links_only_for_people_only_in_their_projects(client_as, project, owner, annotator, annotator2):
    for person in (annotator, annotator2):
        created_by_invitation(person, project)
    elsewhere = ProjectFactory(name="Elsewhere")
    MembershipFactory(project=elsewhere, user=annotator2, role=Role.ANNOTATOR)
    client = client_as(owner)
    page = client.get("/users/").content.decode()
    assert 'aria-label="Reset link for anna"' in page
    assert 'aria-label="Reset link for ben"' not in page  # ben is also in a project olivia does not own
    assert client.post(f"/users/{annotator.pk}/", {"action": "reset-link"}).status_code == 200
    assert client.post(f"/users/{annotator2.pk}/", {"action": "reset-link"}).status_code == 403
    staff_member = UserFactory(username="sue", is_staff=True)
    MembershipFactory(project=project, user=staff_member, role=Role.ANNOTATOR)
    assert client.post(f"/users/{staff_member.pk}/", {"action": "reset-link"}).status_code == 403
    stranger = UserFactory(username="stranger")
    assert client.post(f"/users/{stranger.pk}/", {"action": "reset-link"}).status_code == 404
    # Owners cannot deactivate anyone.
    client.post(f"/users/{annotator.pk}/", {"action": "deactivate"})
    annotator.refresh_from_db()
    assert annotator.is_active


def test_used_or_bad_password_links_show_a_clear_page(client_as, staff, annotator):
    link = link_in(client_as(staff).post(f"/users/{annotator.pk}/", {"action": "reset-link"}))
    set_password_through(link)
    for url in (link, "/reset/MQ/bad-token/", "/reset/%3Cx%3E/abc-def/"):
        page = Client().get(url, follow=True)
        assert page.status_code == 200
        assert "This link does not work" in page.content.decode()
    # A deactivated user's link does not work either.
    other = UserFactory(username="vic")
    link = link_in(client_as(staff).post(f"/users/{other.pk}/", {"action": "reset-link"}))
    get_user_model().objects.filter(pk=other.pk).update(is_active=False)
    assert "This link does not work" in Client().get(link, follow=True).content.decode()


def test_users_page_escapes_names(client_as, staff):
    UserFactory(username="<i>x</i>", email="a@example.org")
    page = client_as(staff).get("/users/").content.decode()
    assert "<i>x</i>" not in page
    assert "&lt;i&gt;x&lt;/i&gt;" in page


def test_users_page_queries_do_not_grow(client_as, staff, django_assert_max_num_queries):
    client = client_as(staff)
    for n in range(15):
        UserFactory(username=f"u{n}")
    with django_assert_max_num_queries(6):
        assert client.get("/users/").status_code == 200


# --- password change and reset --------------------------------------------------------------------


def test_password_change_on_the_account_page(client_as, annotator):
    client = client_as(annotator)
    page = client.get("/account/")
    assert page.status_code == 200
    assert "Change password" in page.content.decode()
    wrong = client.post(
        "/account/", {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert wrong.status_code == 400
    assert "incorrectly" in wrong.content.decode()
    weak = client.post("/account/", {"old_password": PASSWORD, "new_password1": "anna1", "new_password2": "anna1"})
    assert weak.status_code == 400
    annotator.refresh_from_db()
    assert annotator.check_password(PASSWORD)
    done = client.post(
        "/account/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    annotator.refresh_from_db()
    assert annotator.check_password(NEW_PASSWORD)
    assert client.get("/account/").status_code == 200  # still logged in


def test_forgot_password_mails_a_one_time_link(annotator):
    annotator.email = "anna@example.org"
    annotator.save()
    login_page = Client().get("/login/").content.decode()
    assert 'href="/password-reset/"' in login_page
    assert "Forgot password?" in login_page
    response = Client().post("/password-reset/", {"email": "ANNA@example.org"})
    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/reset/\S+/)", mail.outbox[0].body).group(1)
    _, done = set_password_through(link)
    assert done.status_code == 302
    # Unknown addresses get the same answer and no mail.
    response = Client().post("/password-reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1


def test_forgot_password_without_mail_says_whom_to_ask(settings, annotator):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    page = Client().get("/password-reset/").content.decode()
    assert "cannot send e-mail" in page
    assert Client().post("/password-reset/", {"email": "anna@example.org"}).status_code == 503


# --- sign-up --------------------------------------------------------------------------------------


def test_signup_is_off_by_default(db):
    assert Client().get("/signup/").status_code == 404
    assert Client().post("/signup/", {"username": "x"}).status_code == 404
    assert 'href="/signup/"' not in Client().get("/login/").content.decode()


def test_signup_when_enabled(settings, db):
    settings.ANNOTUNE_SIGNUP = True
    assert 'href="/signup/"' in Client().get("/login/").content.decode()
    client = Client()
    bad = client.post("/signup/", {"username": "nia", "password1": "1234", "password2": "1234"})
    assert bad.status_code == 400
    assert not get_user_model().objects.exists()
    done = client.post("/signup/", {"username": "nia", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get("/projects/").status_code == 200
    assert get_user_model().objects.get().username == "nia"


# --- navigation and favicon -----------------------------------------------------------------------


def nav_of(page: str) -> str:
    return page.split('<header class="topbar">', 1)[1].split("</header>", 1)[0]


@pytest.mark.parametrize(
    ("who", "shown", "hidden"),
    [
        # Data health is every member's: annotators see the findings on the data they write.
        ("annotator", ["examples/", "members/", "my-work/", "data-health/"], ["review/", "training/", "datasets/"]),
        ("reviewer", ["review/", "data-health/"], ["training/", "datasets/"]),
        ("owner", ["review/", "training/", "datasets/versions/", "data-health/"], []),
    ],
)
def test_nav_shows_only_what_the_role_can_use(request, client_as, project, who, shown, hidden):
    user = request.getfixturevalue(who)
    nav = nav_of(client_as(user).get(f"/projects/{project.pk}/").content.decode())
    for part in shown:
        assert f'href="/projects/{project.pk}/{part}' in nav, part
    for part in hidden:
        assert f'href="/projects/{project.pk}/{part}' not in nav, part
    assert 'href="/users/"' not in nav
    assert 'href="/admin/"' not in nav
    assert 'href="/account/"' in nav


def test_staff_nav_links_users_and_admin(client_as, staff):
    nav = nav_of(client_as(staff).get("/projects/").content.decode())
    assert 'href="/users/"' in nav
    assert 'href="/admin/"' in nav


def test_favicon_is_served(db):
    response = Client().get("/favicon.ico")
    assert response.status_code in (301, 302)
    assert response["Location"].endswith("/favicon.svg")
    assert Client().get(response["Location"]).status_code == 200
