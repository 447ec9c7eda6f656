"""The editor page's "Submit for review" saves the text and submits it: both or neither."""

from __future__ import annotations

import re

import pytest

from annotation.models import Example, ExampleStatus
from annotation.services import examples as ex

pytestmark = pytest.mark.django_db


def _version_on_page(response) -> int:
    found = re.search(rb'name="version" value="(\d+)"', response.content)
    assert found, response.content[:500]
    return int(found.group(1))


def test_a_refused_submit_saves_nothing_and_the_page_keeps_a_version_that_still_saves(
    client_as, project, annotator, two_turns
):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    client = client_as(annotator)
    url = f"/projects/{project.pk}/examples/{example.pk}/edit/"
    # A new question without its answer: it can be saved as a draft but not submitted.
    unfinished = {"role": ["user"], "content": ["And how do I change my e-mail address?"], "version": "1"}
    response = client.post(url, {**unfinished, "action": "submit"})
    assert response.status_code == 400
    assert b"Not saved." in response.content
    row = Example.objects.get(pk=example.pk)
    assert (row.version, row.messages, row.status) == (1, two_turns, ExampleStatus.DRAFT)  # as the page says
    assert row.revisions.count() == 1
    # The user then saves the draft from that page: it is not taken for someone else's newer save.
    response = client.post(url, {**unfinished, "version": str(_version_on_page(response)), "action": "save"})
    assert response.status_code == 302, response.content[:500]
    row = Example.objects.get(pk=example.pk)
    assert row.version == 2
    assert row.messages == [{"role": "user", "content": "And how do I change my e-mail address?"}]
