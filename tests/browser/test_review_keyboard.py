"""A reviewer works the queue with the keyboard only; the author then reads the feedback on "my work"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from annotation.models import Example, ExampleStatus, Review
from annotation.services import examples as ex
from tests.browser.conftest import LAPTOP
from tests.factories import PASSWORD, conversation

# Playwright's sync API runs an event loop in this thread; the ORM calls around it are plain sync code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def review_browser(request):
    """A Chromium browser: the shared session one when tests/browser/conftest.py offers it, else our own.

    Only one sync Playwright can run per thread, so reusing the shared browser avoids a clash when
    this module runs after others in the same session.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium binary at {CHROMIUM} (install Debian's chromium package)")
    try:
        shared = request.getfixturevalue("browser")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        yield shared
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_page(review_browser, live_server):
    """`open_page(user)`: a fresh browser context logged in as `user` through the login page."""
    contexts = []

    def make(user):
        context = review_browser.new_context(base_url=live_server.url, viewport=LAPTOP)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/projects/")
        return page

    yield make
    for context in contexts:
        context.close()


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_reviewer_approves_and_rejects_by_keyboard_and_the_author_reads_why(open_page, project, annotator, reviewer):
    project.guidelines = "# Tone\nFriendly, **short** answers. Name the exact menu path."
    project.save()
    first = ex.example_create(project=project, author=annotator, messages=conversation(1), submit=True)
    second = ex.example_create(project=project, author=annotator, messages=conversation(2), submit=True)
    comment = "Too informal for our support tone; name the menu path."

    page = open_page(reviewer)
    page.goto(f"/projects/{project.pk}/review/")
    page.wait_for_url(f"**/review/{first.pk}/")
    page.get_by_text("Question number 1").wait_for()
    shot(page, "review-screen")

    page.keyboard.press("a")  # approve
    page.wait_for_url(f"**/review/{second.pk}/")
    assert Example.objects.get(pk=first.pk).status == ExampleStatus.APPROVED

    page.keyboard.press("r")  # reject: the reasons appear, numbered
    page.locator("#reject-panel").wait_for(state="visible")
    page.keyboard.press("2")  # the second reason: style
    assert page.locator("#reject-panel input[value=style]").is_checked()
    page.keyboard.type(comment)
    shot(page, "review-reject")
    page.keyboard.press("Enter")
    page.locator("#queue-empty").wait_for()
    page.goto(f"/projects/{project.pk}/dashboard/")
    page.get_by_text("50.0%").wait_for()  # one of two examples approved
    shot(page, "review-dashboard")

    rejected = Example.objects.get(pk=second.pk)
    assert rejected.status == ExampleStatus.REJECTED
    review = Review.objects.get(example=rejected)
    assert (review.reviewer, review.decision, review.reason, review.comment) == (reviewer, "reject", "style", comment)

    author_page = open_page(annotator)
    author_page.goto(f"/projects/{project.pk}/my-work/")
    card = author_page.locator(f"#returned-{second.pk}")
    card.wait_for()
    assert comment in card.inner_text()
    assert "style" in card.inner_text()
    assert author_page.locator(f"#returned-{first.pk}").count() == 0
    shot(author_page, "my-work")
