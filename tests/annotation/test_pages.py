"""Pages: forms that refuse input keep what the user typed and change nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Example, Project
from annotation.services import examples as ex

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_as():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def test_editor_refusal_keeps_the_text(browser_as, project, annotator):
    client = browser_as(annotator)
    url = f"/projects/{project.pk}/examples/new/"
    posted = {"role": ["user", "user"], "content": ["Keep this question", "nul \x00 here"], "action": "save"}
    response = client.post(url, posted)
    assert response.status_code == 400
    assert b"Keep this question" in response.content
    assert b"NUL" in response.content
    assert Example.objects.count() == 0


def test_stale_edit_on_the_page_is_refused_and_keeps_both_versions(browser_as, project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    first = [two_turns[0], {"role": "assistant", "content": "Saved elsewhere first."}]
    ex.example_update(example=example, user=annotator, version=1, messages=first)
    client = browser_as(annotator)
    response = client.post(
        f"/projects/{project.pk}/examples/{example.pk}/edit/",
        {"version": "1", "role": ["user", "assistant"], "content": ["Q", "My stale answer"], "action": "save"},
    )
    assert response.status_code == 409
    assert b"My stale answer" in response.content
    assert b"Someone else saved" in response.content
    example.refresh_from_db()
    assert example.messages[1]["content"] == "Saved elsewhere first."


def test_editor_saves_and_normalises_line_endings(browser_as, project, annotator):
    client = browser_as(annotator)
    response = client.post(
        f"/projects/{project.pk}/examples/new/",
        {"role": ["user", "assistant"], "content": ["Line one\r\nLine two", "Answer"], "action": "save"},
    )
    assert response.status_code == 302
    assert Example.objects.get().messages[0]["content"] == "Line one\nLine two"


def test_project_form_reports_bad_categories(browser_as, owner, project):
    client = browser_as(owner)
    response = client.post(
        f"/projects/{project.pk}/settings/",
        {"name": "Renamed", "categories": "a: 0.9\nb: 0.9", "max_tokens": "2048", "reviews_required": "1"},
    )
    assert response.status_code == 200
    assert b"must not exceed 1" in response.content
    assert Project.objects.get(pk=project.pk).name == "Support bot"


def test_guidelines_are_sanitised(browser_as, owner, project):
    project.guidelines = "**Bold** <script>alert(1)</script> <a href='javascript:alert(1)'>x</a>"
    project.save()
    content = browser_as(owner).get(f"/projects/{project.pk}/").content
    assert b"<strong>Bold</strong>" in content
    assert b"<script>alert(1)" not in content
    assert b"javascript:" not in content


def test_api_tokens_page_shows_a_new_key_once(browser_as, owner):
    client = browser_as(owner)
    first = client.post("/account/tokens/", {"name": "laptop", "scope": "full"})
    assert first.status_code == 200
    key = first.context["key"]
    assert key.encode() in first.content
    assert first["Cache-Control"] == "no-store"
    second = client.post("/account/tokens/", {"name": "chat app", "scope": "inference"})
    assert second.context["key"] != key
    listing = client.get("/account/tokens/")
    assert key.encode() not in listing.content  # shown once: the list names it by its prefix
    assert b"laptop" in listing.content
    assert b"chat app" in listing.content
    assert client.get("/account/token/").status_code == 301  # the old address moved
