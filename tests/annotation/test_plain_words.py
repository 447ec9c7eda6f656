"""The pages of the annotation side of the journey speak in words: no snake_case code on screen.

Codes (check codes, reason codes, statuses, field names) may appear inside `<code>` elements and in
`title` attributes (tooltips), which are not text nodes; everything else a person reads is scanned.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.annotation.journey_data import CONTRADICTION, build_journey, use_storage
from tests.page_words import snake_codes

pytestmark = pytest.mark.django_db


def test_the_scanner_finds_codes_only_outside_code_and_tooltips():
    html = (
        '<p>Example 8: rejected (off_topic)</p><code>fmt.empty_turn</code><span title="style_tags">Style tags</span>'
        "<pre>{'max_new_tokens': 64}</pre><input placeholder=\"reject_reasons\"><textarea>my_notes</textarea>"
    )
    assert snake_codes(html) == ["off_topic", "max_new_tokens", "placeholder: reject_reasons"]


@pytest.fixture
def journey(settings, tmp_path):
    use_storage(settings, tmp_path)
    return build_journey()


def pages_of(journey) -> dict[str, tuple[object, str]]:
    p = journey.project.pk
    return {
        "projects": (journey.owner, reverse("project-list")),
        "project page": (journey.owner, reverse("project-detail", args=[p])),
        "examples": (journey.owner, reverse("example-list", args=[p])),
        "new example": (journey.annotator, reverse("example-create", args=[p])),
        "editor of a sent-back example": (journey.annotator, reverse("example-edit", args=[p, journey.sent_back.pk])),
        "rejected example": (journey.annotator, reverse("example-detail", args=[p, journey.rejected.pk])),
        "review": (journey.reviewer, reverse("review-screen", args=[p, journey.submitted[0].pk])),
        "my work": (journey.annotator, reverse("my-work", args=[p])),
        "dashboard": (journey.owner, reverse("project-dashboard", args=[p])),
        "bulk actions": (journey.owner, reverse("review-bulk", args=[p])),
        "versions": (journey.owner, reverse("dataset-versions", args=[p])),
        "version": (journey.owner, reverse("dataset-version", args=[p, 1])),
        "data health": (journey.owner, reverse("data-health", args=[p])),
        "knowledge base": (journey.owner, reverse("knowledge", args=[p])),
        "members": (journey.owner, reverse("project-members", args=[p])),
        "settings": (journey.owner, reverse("project-settings", args=[p])),
    }


def test_no_snake_case_code_on_the_annotation_pages(journey, client_as):
    found = {}
    for name, (user, url) in pages_of(journey).items():
        response = client_as(user).get(url, follow=True)
        assert response.status_code == 200, name
        codes = snake_codes(response.content.decode())
        if codes:
            found[name] = sorted(set(codes))
    assert found == {}


def test_no_snake_case_code_in_the_checks_panel_or_the_refusal(journey, client_as):
    p = journey.project.pk
    client = client_as(journey.annotator)
    turns = {"role": ["user", "assistant"], "content": ["How long do refunds take?", CONTRADICTION + "  "]}
    panel = client.post(reverse("editor-validate", args=[p]), turns).content.decode()
    assert 'data-code="fact.contradicted"' in panel
    assert 'data-code="fmt.trailing_whitespace"' in panel
    assert snake_codes(panel) == []
    refused = client.post(reverse("example-create", args=[p]), {**turns, "action": "submit"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Claim contradicts the knowledge base" in html
    assert snake_codes(html) == []


def test_review_decisions_say_the_reason_in_words(journey, client_as):
    p = journey.project.pk
    example = journey.submitted[0]
    client = client_as(journey.reviewer)
    response = client.post(
        reverse("review-decide", args=[p, example.pk]), {"action": "reject", "reason": "off_topic"}, follow=True
    )
    html = response.content.decode()
    assert f"Example {example.pk}: rejected: off topic." in html
    assert "off_topic" not in html.replace('value="off_topic"', "")  # only the radio button's value keeps the code


def test_the_project_navigation_links_data_health_once(journey, client_as):
    for user in (journey.owner, journey.annotator):
        html = client_as(user).get(reverse("project-detail", args=[journey.project.pk])).content.decode()
        assert html.count(reverse("data-health", args=[journey.project.pk]) + '"') == 1, user
