"""Draft, correct, approve: in a real Chromium, with a real inference worker on a tiny model, an annotator opens
a prompt that waits for its answer (as an import of prompts leaves it), has the project's active adapter draft
it (the text streams into the answer turn), corrects some of its words and submits; a reviewer takes it from
the queue, reads the draft against the final answer as a word diff, and approves. The approval keeps the
correction as a preference pair (chosen: the corrected answer, rejected: the draft), and the example's page
shows the same diff.

Screenshots: var/screenshots/draft-approve-*.png (1366 px wide; the review screen also at 390 px).
"""

from __future__ import annotations

import pytest

from annotation.models import Example, ExampleStatus, PreferencePair
from annotation.selectors.drafts import plain
from annotation.services import examples as example_services
from serving.models import GenerationRequest
from tests.browser.conftest import LAPTOP, PHONE, screenshot
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.workers import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUESTION = "Where is my parcel?"
# The annotator's words: they replace the draft's first words and end the answer. The markup is text, shown
# as typed on every page; the link is one long word, which must wrap on a phone.
OPENING = "Your parcel left our depot today."
CLOSING = "Track it under Orders › <b>Track</b> & see where: https://shop.example.com/orders/track?parcel=LX1234GB"

# The answer turn while the worker writes it: read-only, with some text in it already.
STREAMING = """() => {
  const answer = document.querySelectorAll("fieldset.turn textarea")[1];
  return Boolean(answer && answer.readOnly && answer.value.trim());
}"""

# The diff read back: the draft is its unmarked and deleted runs, the final answer its unmarked and inserted ones.
SIDES = """(diff) => {
  let old = "", neu = "";
  for (const node of diff.childNodes) {
    const text = node.textContent;
    if (node.nodeName === "INS") neu += text;
    else if (node.nodeName === "DEL") old += text;
    else { old += text; neu += text; }
  }
  return [old, neu];
}"""


def corrected(draft: str) -> str:
    """The draft with its first three words replaced and a sentence added: the annotator's correction."""
    words = plain(draft).split(" ")
    return " ".join([OPENING, *words[3:], CLOSING])


def fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_corrected_draft_is_approved_and_kept_as_a_preference_pair(
    page, login, sign_in, annotator, reviewer, project, make_adapter, adapter_dirs, storage
):
    adapter = make_adapter("support-v2", adapter_dirs["a"], is_active=True)
    example = example_services.example_create(
        project=project, author=annotator, messages=[{"role": "user", "content": QUESTION}]
    )
    # Pieces held 190 ms (as in test_draft_answer.py): the answer takes long enough to watch it grow.
    env = {"ANNOTUNE_STORAGE_ROOT": str(storage), "ANNOTUNE_INFERENCE_STREAM_DELAY_MS": "190"}
    with celery_worker("inference", env=env):
        # The annotator opens the prompt from the list, where it waits for its answer.
        login(annotator)
        page.goto(f"/projects/{project.pk}/examples/")
        row = page.locator("tr", has=page.locator(".awaiting-answer"))
        row.get_by_role("link", name=QUESTION).click()
        page.wait_for_url(f"**/examples/{example.pk}/")
        page.get_by_role("button", name="Edit").click()
        page.wait_for_url(f"**/examples/{example.pk}/edit/")
        turns = page.locator("fieldset.turn textarea")
        assert turns.count() == 1
        assert "with the adapter “support-v2”" in page.locator(".draft-bar").inner_text()

        page.get_by_role("button", name="Draft answer").click()
        page.wait_for_function(STREAMING, timeout=90_000)  # the worker loads the model first
        page.locator("#draft-status .draft[data-state=succeeded]").wait_for(timeout=120_000)
        generation = GenerationRequest.objects.get()
        assert generation.status == "succeeded", generation.error
        draft = plain(generation.outputs[0]["text"])
        assert len(draft.split(" ")) > 3, draft
        answer = turns.nth(1)
        assert plain(answer.input_value()) == draft
        assert answer.get_attribute("readonly") is None
        screenshot(page, "draft-approve-1-drafted")

        final = corrected(draft)
        answer.fill(final)
        with page.expect_navigation():
            page.get_by_role("button", name="Save draft").click()
        assert page.locator(".draft-note").inner_text() == "Drafted by support-v2 — edited"
        screenshot(page, "draft-approve-2-corrected")
        with page.expect_navigation():
            page.get_by_role("button", name="Submit for review").click()
        page.get_by_text("Example submitted for review.").wait_for()
    assert Example.objects.get(pk=example.pk).status == ExampleStatus.SUBMITTED

    # The reviewer takes it from the queue and reads the draft against the final answer.
    review = sign_in(reviewer)
    review.goto(f"/projects/{project.pk}/review/")
    review.wait_for_url(f"**/review/{example.pk}/")
    diff = review.locator("#draft-diffs")
    assert "Turn 2: Drafted by support-v2 — edited" in diff.inner_text()
    old, new = diff.locator(".diff").evaluate(SIDES)
    assert (old, new) == (draft, plain(final))  # every word of both answers, in order
    inserted = " ".join(diff.locator(".diff ins").all_inner_texts())
    assert all(word in inserted for word in OPENING.split()), inserted
    assert "Orders › <b>Track</b> & see" in inserted  # the markup shown as text
    assert diff.locator(".diff b").count() == 0
    assert diff.locator(".diff del").count() > 0
    screenshot(review, "draft-approve-3-review")
    review.set_viewport_size(PHONE)
    assert fits(review, PHONE["width"]), "the review screen is wider than a phone"
    assert diff.bounding_box()["width"] <= PHONE["width"]
    screenshot(review, "draft-approve-3-review-390")
    review.set_viewport_size(LAPTOP)

    review.locator("#approve-button").click()
    review.locator("#queue-empty").wait_for()
    assert Example.objects.get(pk=example.pk).status == ExampleStatus.APPROVED
    pair = PreferencePair.objects.get()
    assert (pair.example_id, pair.turn_index, pair.chosen, pair.rejected) == (example.pk, 1, plain(final), draft)
    assert pair.prompt == [{"role": "user", "content": QUESTION}]
    assert (pair.adapter, pair.corrected_by, pair.approved_by) == (adapter, annotator, reviewer)
    assert 0 < pair.edit_distance < 1

    # The example's page keeps the comparison after the approval.
    review.goto(f"/projects/{project.pk}/examples/{example.pk}/")
    kept = review.locator("#draft-diffs")
    assert "Turn 2: Drafted by support-v2 — edited" in kept.inner_text()
    assert kept.locator(".diff").evaluate(SIDES) == [draft, plain(final)]
    assert kept.locator(".diff b").count() == 0
    screenshot(review, "draft-approve-4-example")
