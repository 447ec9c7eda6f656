"""Draft answer in the editor: in a real Chromium, with a real inference worker on a tiny model, the project's
active adapter writes the answer into the assistant turn while the annotator watches, the checks run on the
drafted text, the annotator edits and saves, and the editor says the answer was drafted and then edited.
A second draft is cancelled mid-answer: the text so far stays, nothing else the annotator wrote changes.

The worker slows its published pieces down (ANNOTUNE_INFERENCE_STREAM_DELAY_MS): a tiny model answers
faster than a page can watch. Screenshots: var/screenshots/draft-answer-*.png (1366 and 390 px wide).
"""

from __future__ import annotations

import time

import pytest

from annotation.models import Example, ExampleDraft
from serving.models import GenerationRequest
from tests.browser.conftest import LAPTOP, PHONE, screenshot
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.workers import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def plain_lines(text: str) -> str:
    """A text as a textarea holds it (line breaks as LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _wait_for_growth(area, before: str, timeout: float = 30) -> str:
    """The turn's text once it is longer than `before` (looked at every 100 ms, as a person watches)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = area.input_value()
        if text.strip() and len(text) > len(before):
            return text
        area.page.wait_for_timeout(100)
    raise AssertionError(f"the drafted answer did not grow within {timeout}s (still {before!r})")


def test_the_draft_streams_into_the_answer_is_checked_edited_and_kept(
    page, login, annotator, project, make_adapter, adapter_dirs, storage
):
    make_adapter("support-v2", adapter_dirs["a"], is_active=True)
    project.style_rules = {"opening": "**In short:**"}  # the random model never writes it: a finding on the draft
    project.save(update_fields=["style_rules"])
    # Each piece the worker publishes (one every 0.2 s of answer at most) is held 190 ms: a whole answer then
    # takes seconds, long enough to watch it grow and to cancel the second one while it is written (at 60 ms
    # the second, with the model already loaded, ended within a second, before the click).
    env = {"ANNOTUNE_STORAGE_ROOT": str(storage), "ANNOTUNE_INFERENCE_STREAM_DELAY_MS": "190"}
    with celery_worker("inference", env=env):
        login(annotator)
        page.goto(f"/projects/{project.pk}/examples/new/")
        turns = page.locator("fieldset.turn textarea")
        findings = page.locator("#findings")
        findings.locator("section.findings").wait_for()  # the load check ran
        assert "with the adapter “support-v2”" in page.locator(".draft-bar").inner_text()
        turns.nth(0).fill("Where is my parcel?")
        button = page.get_by_role("button", name="Draft answer")
        button.click()

        page.get_by_role("button", name="Cancel drafting").wait_for()
        assert page.locator("#draft-answer").inner_text() == "Drafting…"
        assert page.locator("#draft-answer").is_disabled()
        answer = turns.nth(1)
        first = _wait_for_growth(answer, "", timeout=90)  # the worker loads the model first
        assert answer.get_attribute("readonly") is not None  # nobody types into a turn being written
        second = _wait_for_growth(answer, first)
        assert second.startswith(first.rstrip())
        assert page.locator("#draft-status .draft").get_attribute("data-state") == "running"
        screenshot(page, "draft-answer-1-streaming")

        page.locator("#draft-status .draft[data-state=succeeded]").wait_for(timeout=120_000)
        row = GenerationRequest.objects.get()
        assert row.status == "succeeded", row.error
        drafted = row.outputs[0]["text"]
        assert answer.input_value() == plain_lines(drafted)
        assert answer.get_attribute("readonly") is None
        assert page.locator("#draft-answer").inner_text() == "Draft answer"
        assert "by support-v2" in page.locator("#draft-status").inner_text()
        # The checks ran on the drafted text as on typed text.
        opening = findings.locator('li[data-code="style.opening"]')
        opening.wait_for(timeout=5000)
        assert "Turn 2 (assistant)" in opening.inner_text()
        screenshot(page, "draft-answer-2-drafted")

        answer.fill(f"**In short:** {drafted.strip() or 'It is on its way.'}")
        page.get_by_role("button", name="Save draft").click()
        page.wait_for_url("**/edit/")
        note = page.locator(".draft-note")
        assert note.inner_text() == "Drafted by support-v2 — edited"
        screenshot(page, "draft-answer-3-saved")
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "draft-answer-3-saved-390")
        page.set_viewport_size(LAPTOP)

        # A second question: its draft is cancelled while it is written; the text so far stays.
        example = Example.objects.get()
        kept = ExampleDraft.objects.get()
        assert (kept.example, kept.text, kept.turn_index) == (example, drafted, 1)
        page.get_by_role("button", name="+ Add turn").click()
        turns.nth(2).fill("And when will it arrive?")
        button.click()
        _wait_for_growth(turns.nth(3), "", timeout=60)
        page.get_by_role("button", name="Cancel drafting").click()
        page.locator("#draft-status .draft[data-state=cancelled]").wait_for(timeout=15_000)
        assert "You cancelled this draft; the text so far stays" in page.locator("#draft-status").inner_text()
        cancelled = GenerationRequest.objects.order_by("-id").first()
        assert cancelled.status == "cancelled"
        assert turns.nth(3).input_value().strip()  # the text so far is kept for the annotator
        assert turns.nth(3).get_attribute("readonly") is None
        assert turns.nth(0).input_value() == "Where is my parcel?"
        assert turns.nth(1).input_value().startswith("**In short:** ")
        screenshot(page, "draft-answer-4-cancelled")
        page.set_viewport_size(PHONE)
        screenshot(page, "draft-answer-4-cancelled-390")
