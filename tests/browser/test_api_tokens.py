"""API tokens in a real browser: from the account page, create an inference-only token for one project
(its key shown once, with the OpenAI snippet that uses it), chat client lists that project's models
with it, then revoke it; a hostile token name stays text. Photographed at laptop and phone width
(var/screenshots/tokens-*.png)."""

from __future__ import annotations

import openai
import pytest

from accounts.models import ApiToken
from tests.browser.conftest import LAPTOP, screenshot
from tests.page_words import snake_codes
from tests.serving.adapter_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<img src=x onerror="document.title=1">'


def fits_a_phone(page, name: str) -> bool:
    """Photographed at 390 px: nothing sticks out to the right (the token table scrolls in its box)."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(150)
    fits = page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, name)
    page.set_viewport_size(LAPTOP)
    return fits


def test_create_use_and_revoke_an_inference_token(live_server, page, login, owner, project, base_model):
    login(owner)
    page.goto("/account/")
    page.get_by_role("button", name="Manage API tokens").click()
    page.get_by_label("Name").fill(HOSTILE)
    page.get_by_label("Access").select_option("inference")
    page.get_by_label("Project").select_option(str(project.pk))
    page.get_by_label("Expires").select_option("90")
    page.get_by_role("button", name="Create token").click()
    key = page.locator("#api-token-value").inner_text().strip()
    assert f'api_key="{key}"' in page.locator("#new-token").inner_text()  # the snippet to paste
    assert page.title() != "1"  # the name was shown as text, not run
    assert snake_codes(page.content()) == []
    screenshot(page, "tokens-01-created")
    assert fits_a_phone(page, "tokens-01-created-390")

    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=30)
    assert [m.id for m in client.models.list()] == ["tiny-llama"]

    page.goto("/account/tokens/")
    assert key not in page.content()  # shown once
    row = page.locator("#api-tokens tbody tr").first
    assert "Inference only (/v1/)" in row.inner_text()
    assert "Support bot" in row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())  # revoking cannot be undone: the page asks first
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/account/tokens/")
    page.get_by_text("revoked: clients using it are refused from now on").wait_for()
    assert "revoked" in page.locator("#api-tokens tbody tr").first.inner_text()
    screenshot(page, "tokens-02-revoked")
    assert ApiToken.objects.get(user=owner).revoked
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
