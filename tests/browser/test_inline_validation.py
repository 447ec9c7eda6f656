"""The editor checks as the annotator types: findings appear inline and the Fix button applies them."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import screenshot
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_shows_findings_inline_and_fix_removes_them(page, login):
    user = UserFactory(username="iris")
    project = ProjectFactory(name="Inline checks", created_by=user)
    MembershipFactory(project=project, user=user, role="owner")
    login(user)
    page.goto(f"/projects/{project.pk}/examples/new/")
    turns = page.locator("fieldset.turn textarea")
    findings = page.locator("#findings")
    findings.locator("section.findings").wait_for()  # the load check ran

    started = time.monotonic()
    turns.nth(0).fill("How do I  reset my password?")
    findings.locator('li[data-code="fmt.double_space"]').wait_for(timeout=3000)
    assert time.monotonic() - started < 1.5  # 400 ms debounce plus one request
    turns.nth(1).fill("Write to <b>bob.smith@acme-mail.org</b> and we reset it.")
    email = findings.locator('li[data-code="pii.email"]')
    email.wait_for(timeout=3000)
    assert "Turn 2 (assistant)" in email.inner_text()
    assert email.locator("mark").inner_text() == "bob.smith@acme-mail.org"
    assert findings.locator("b").count() == 0  # the typed markup is shown as text
    screenshot(page, "editor-inline-findings")

    findings.locator('li[data-code="fmt.double_space"] button.fix-button').click()
    findings.locator('li[data-code="fmt.double_space"]').wait_for(state="detached", timeout=3000)
    assert turns.nth(0).input_value() == "How do I reset my password?"
    findings.locator('li[data-code="pii.email"] button.fix-button').click()
    findings.locator('li[data-code="pii.email"]').wait_for(state="detached", timeout=3000)
    assert turns.nth(1).input_value() == "Write to <b>[EMAIL]</b> and we reset it."
    screenshot(page, "editor-after-fix")
