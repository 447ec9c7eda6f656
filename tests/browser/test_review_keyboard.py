"""A reviewer works the queue with the keyboard only; the author then reads the feedback on "my work"."""

from __future__ import annotations

import pytest

from annotation.models import Example, ExampleStatus, Review
from annotation.services import examples as ex
from tests.browser.conftest import screenshot
from tests.factories import conversation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_approves_and_rejects_by_keyboard_and_the_author_reads_why(sign_in, project, annotator, reviewer):
    project.guidelines = "# Tone\nFriendly, **short** answers. Name the exact menu path."
    project.save()
    first = ex.example_create(project=project, author=annotator, messages=conversation(1), submit=True)
    second = ex.example_create(project=project, author=annotator, messages=conversation(2), submit=True)
    comment = "Too informal for our support tone; name the menu path."

    page = sign_in(reviewer)
    page.goto(f"/projects/{project.pk}/review/")
    page.wait_for_url(f"**/review/{first.pk}/")
    page.get_by_text("Question number 1").wait_for()
    screenshot(page, "review-screen")

    page.keyboard.press("a")  # approve
    page.wait_for_url(f"**/review/{second.pk}/")
    assert Example.objects.get(pk=first.pk).status == ExampleStatus.APPROVED

    page.keyboard.press("r")  # reject: the reasons appear, numbered
    page.locator("#reject-panel").wait_for(state="visible")
    page.keyboard.press("2")  # the second reason: style
    assert page.locator("#reject-panel input[value=style]").is_checked()
    page.keyboard.type(comment)
    screenshot(page, "review-reject")
    page.keyboard.press("Enter")
    page.locator("#queue-empty").wait_for()
    page.goto(f"/projects/{project.pk}/dashboard/")
    page.get_by_text("50.0%").wait_for()  # one of two examples approved
    screenshot(page, "review-dashboard")

    rejected = Example.objects.get(pk=second.pk)
    assert rejected.status == ExampleStatus.REJECTED
    review = Review.objects.get(example=rejected)
    assert (review.reviewer, review.decision, review.reason, review.comment) == (reviewer, "reject", "style", comment)

    author_page = sign_in(annotator)
    author_page.goto(f"/projects/{project.pk}/my-work/")
    card = author_page.locator(f"#returned-{second.pk}")
    card.wait_for()
    assert comment in card.inner_text()
    assert "style" in card.inner_text()
    assert author_page.locator(f"#returned-{first.pk}").count() == 0
    screenshot(author_page, "my-work")
