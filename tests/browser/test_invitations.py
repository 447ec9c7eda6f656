"""Invitations in a real browser: someone with an account joins by logging in from the invitation page,
someone new sets a password (the steps the journey takes); the token leaves the address bar."""

from __future__ import annotations

import pytest

from annotation.models import Membership, Role
from tests.browser.conftest import LAPTOP, screenshot
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def invite(page, project, who: str, role: str) -> str:
    page.goto(f"/projects/{project.pk}/members/")
    page.get_by_label("Username or e-mail").fill(who)
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Add member").click()
    link = page.locator("#invitation-link")
    link.wait_for()
    assert "Invitation created for" in page.content()
    return link.input_value()


def test_an_existing_account_and_a_new_person_accept(browser, live_server, page, login, project, owner):
    sam = UserFactory(username="sam", email="sam@example.org")
    login(owner)
    sam_link = invite(page, project, "sam@example.org", "reviewer")
    new_link = invite(page, project, "newbie@example.org", "annotator")
    screenshot(page, "invitations-01-link")
    assert not Membership.objects.filter(project=project, user=sam).exists()  # nobody added without accepting

    # Sam opens the link, logs in from there, and joins with the account.
    context = browser.new_context(base_url=live_server.url, viewport=LAPTOP)
    sams = context.new_page()
    sams.set_default_timeout(15_000)
    sams.goto(sam_link)
    sams.wait_for_url("**/invite/accept/")  # the token left the address bar
    sams.get_by_role("link", name="Log in").click()
    sams.get_by_label("Username").fill("sam")
    sams.get_by_label("Password").fill(PASSWORD)
    sams.get_by_role("button", name="Log in").click()
    sams.wait_for_url("**/invite/accept/")
    screenshot(sams, "invitations-02-join")
    sams.get_by_role("button", name="Join as sam").click()
    sams.wait_for_url(f"**/projects/{project.pk}/")
    assert Membership.objects.get(project=project, user=sam).role == Role.REVIEWER
    context.close()

    # Someone new sets a password, as the journey does.
    context = browser.new_context(base_url=live_server.url, viewport=LAPTOP)
    new = context.new_page()
    new.set_default_timeout(15_000)
    new.goto(new_link)
    new.get_by_role("heading", name="Set your password").wait_for()
    new.locator("input[name=username]").fill("newbie")
    new.locator("input[name=password1]").fill("newbie-writes-1")
    new.locator("input[name=password2]").fill("newbie-writes-1")
    screenshot(new, "invitations-03-new-account")
    new.get_by_role("button", name="Create account").click()
    new.wait_for_url(f"**/projects/{project.pk}/")
    assert Membership.objects.get(project=project, user__username="newbie").role == Role.ANNOTATOR
    context.close()
