"""An annotator's first session: log in, create a project, write a two-turn example, submit it."""

from __future__ import annotations

import pytest

from annotation.models import Example, ExampleStatus
from tests.browser.conftest import screenshot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_write_and_submit_a_two_turn_example(page, login):
    user = UserFactory(username="maria")
    login(user)

    page.get_by_role("button", name="New project").first.click()
    page.get_by_label("Name").fill("Support assistant")
    page.get_by_label("Categories").fill("billing: 0.6\ngeneral: 0.4")
    page.get_by_label("Guidelines").fill("# Tone\nAnswer **briefly**. <script>window.pwned=1</script>")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("heading", name="Support assistant").wait_for()
    assert page.evaluate("window.pwned") is None  # guidelines are sanitised

    page.get_by_role("button", name="Write an example").first.click()
    turns = page.locator("fieldset.turn")
    assert turns.count() == 2
    turns.nth(0).locator("textarea").fill("How do I download last month's invoice?")
    turns.nth(1).locator("textarea").fill("Open Billing → Invoices and press Download next to the month.")
    page.get_by_role("button", name="+ Add turn").click()
    page.get_by_role("button", name="+ Add turn").click()
    assert page.locator("fieldset.turn select[name=role]").evaluate_all("s => s.map(x => x.value)") == [
        "user", "assistant", "user", "assistant",
    ]  # fmt: skip
    turns.nth(2).locator("textarea").fill("And as a PDF?")
    turns.nth(3).locator("textarea").fill("Yes: the download is a PDF.")
    page.locator("select[name=category]").select_option("billing")
    screenshot(page, "example-editor")
    page.get_by_role("button", name="Submit for review").click()

    page.wait_for_url("**/examples/")
    row = page.locator("table.examples tbody tr").first
    assert "How do I download last month" in row.inner_text()
    assert "Submitted" in row.inner_text()
    screenshot(page, "example-list")
    example = Example.objects.get()
    assert example.status == ExampleStatus.SUBMITTED
    assert [m["role"] for m in example.messages] == ["user", "assistant", "user", "assistant"]
    assert example.category == "billing"


def test_editor_keeps_text_when_a_save_is_refused(page, login):
    user = UserFactory(username="noah")
    login(user)
    page.goto("/projects/new/")
    page.get_by_label("Name").fill("Docs")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("button", name="Write an example").first.click()
    page.locator("fieldset.turn textarea").nth(0).fill("A question worth keeping")
    page.get_by_role("button", name="Submit for review").click()  # the assistant turn is empty
    page.locator("#editor-error").wait_for()
    assert "empty" in page.locator("#editor-error").inner_text() + page.locator(".field-errors").inner_text()
    assert page.locator("fieldset.turn textarea").nth(0).input_value() == "A question worth keeping"
    assert Example.objects.count() == 0
