"""A reviewer opens what training found, sends the hardest example back, and gets it first in the queue."""

from __future__ import annotations

import pytest

from annotation.models import ExampleStatus
from tests.browser.conftest import screenshot
from tests.evaluation.found_helpers import make_job, scored_set
from tests.factories import ExampleFactory, conversation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_send_back_from_the_found_page_then_review_it_first(page, login, project, owner, reviewer, annotator):
    job = make_job(project, owner)
    losses = [4.1, 1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.15]
    billing = scored_set(project, job, annotator, reviewer, losses)
    scored_set(project, job, annotator, reviewer, [0.5, 0.6, 0.55], category="general")
    scored_set(project, job, annotator, reviewer, [2.4, 2.6], split="validation")
    # Older examples already waiting in the queue: the flagged one must still come first.
    for i in range(3):
        ExampleFactory(project=project, author=owner, messages=conversation(800 + i), status=ExampleStatus.SUBMITTED)
    hardest = billing[0]

    login(reviewer)
    page.goto(f"/projects/{project.pk}/training/{job.pk}/")
    page.get_by_role("link", name="What training found").click()
    page.wait_for_url(f"**/training/{job.pk}/found/")
    page.locator("#found-chart").wait_for()
    row = page.locator(f"#score-{hardest.training_scores.get().pk}")
    assert "4.100" in row.inner_text()
    row.get_by_role("button", name="Send back for review").click()
    page.get_by_text("1 example sent back to review").wait_for()
    row = page.locator(f"#score-{hardest.training_scores.get().pk}")
    assert "Sent back · Pending review" in row.inner_text()
    assert (
        f"Flagged by training job #{job.pk}: loss 4.1, top 10 % of the training set"
        in page.locator("#flagged").inner_text()
    )
    screenshot(page, "found-send-back")

    page.get_by_role("button", name="Review queue").click()
    page.wait_for_url(f"**/review/{hardest.pk}/**")
    heading = page.get_by_role("heading", level=1).inner_text()
    assert f"#{hardest.pk}" in heading
    evidence = page.locator("#flag-evidence").inner_text()
    assert f"Flagged by training job #{job.pk}: loss 4.1" in evidence
    screenshot(page, "found-review-first")
