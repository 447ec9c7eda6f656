"""The playground streams: in a real Chromium, with a real inference worker on a tiny model, the answer
grows on the page before it is complete, the seconds count, and a reload mid-answer keeps the text.

The worker slows its published pieces down (ANNOTUNE_INFERENCE_STREAM_DELAY_MS): a tiny model answers
faster than a page can watch. Screenshots: var/screenshots/playground-stream-*.png.
"""

from __future__ import annotations

import time

import pytest

from serving.models import GenerationRequest
from tests.browser.conftest import screenshot
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.workers import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ANSWER = "#answers article.answer"


def _text(page) -> str:
    """The first answer's text as shown (without the cursor drawn after text still being written)."""
    return page.locator(f"{ANSWER} .answer-text").first.inner_text().replace("▍", "")


def _words(text: str) -> str:
    return " ".join(text.split())


def _wait_for_growth(page, before: str, timeout: float = 30) -> str:
    """The answer's text once it differs from `before` (polled the way a person watches: every 100 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator(f"{ANSWER}[data-state=writing] .answer-text").count():
            text = _text(page)
            if text.strip() and text != before:
                return text
        page.wait_for_timeout(100)
    raise AssertionError(f"the answer did not grow within {timeout}s (still {before!r})")


def test_the_answer_grows_on_the_page_before_it_completes(page, login, owner, project, base_model, storage):
    env = {"ANNOTUNE_STORAGE_ROOT": str(storage), "ANNOTUNE_INFERENCE_STREAM_DELAY_MS": "250"}
    with celery_worker("inference", env=env):
        login(owner)
        page.goto(f"/projects/{project.pk}/playground/")
        page.locator("textarea[name=conversation]").fill("Where is my parcel?")
        page.locator("input[name=max_new_tokens]").fill("40")
        page.get_by_role("button", name="Generate").click()
        page.locator("#answers [id^=generation-]").wait_for()
        page.wait_for_url("**/playground/?request=*")  # the address names the request

        first = _wait_for_growth(page, "", timeout=90)  # the model loads first
        elapsed_before = float(page.locator(".generation-elapsed").inner_text().removesuffix(" s"))
        second = _wait_for_growth(page, first)
        assert _words(second).startswith(_words(first))
        assert len(_words(second)) > len(_words(first))
        assert page.locator("#answers [id^=generation-] footer").count() == 0  # not complete yet
        state = page.locator(".generation-state").inner_text()
        assert "Generating" in state
        screenshot(page, "playground-stream-1-growing")

        # A reload mid-answer shows the text so far and goes on.
        page.reload()
        page.locator(f"{ANSWER} .answer-text").first.wait_for()
        after_reload = _text(page)
        assert _words(after_reload).startswith(_words(second))
        assert page.locator("textarea[name=conversation]").input_value() == "Where is my parcel?"
        elapsed_after = float(page.locator(".generation-elapsed").inner_text().removesuffix(" s"))
        assert elapsed_after > elapsed_before  # the seconds count on

        page.locator("#answers [id^=generation-] footer").first.wait_for(timeout=120_000)
        final = _text(page)
        footer = page.locator("#answers [id^=generation-] footer").first.inner_text()
        screenshot(page, "playground-stream-2-done")

    row = GenerationRequest.objects.get()
    assert row.status == "succeeded", row.error
    assert _words(final) == _words(row.outputs[0]["text"])
    assert _words(final).startswith(_words(second))
    assert len(_words(final)) > len(_words(second))
    assert "tokens/s" in footer
    assert f"{row.outputs[0]['new_tokens']} tokens" in footer
    assert page.locator("#answers [id^=generation-][hx-get]").count() == 0  # done: polling stopped


def test_a_refused_request_shows_what_to_fix(page, login, owner, project, base_model):
    login(owner)
    page.goto(f"/projects/{project.pk}/playground/")
    page.locator("textarea[name=conversation]").fill("Where is my parcel?")
    page.locator("input[name=base]").uncheck()
    page.get_by_role("button", name="Generate").click()
    page.locator("#answers .error-box").wait_for()
    assert "Choose the base model or at least one adapter." in page.locator("#answers").inner_text()
    assert not GenerationRequest.objects.exists()
    screenshot(page, "playground-stream-3-refused")
