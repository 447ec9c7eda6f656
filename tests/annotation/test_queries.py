"""List pages and endpoints issue a constant number of queries, whatever the page size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def count_queries(call) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_example_list_api_queries_do_not_grow(api, project, annotator, annotator2, django_assert_num_queries):
    ExampleFactory.create_batch(30, project=project, author=annotator)
    ExampleFactory.create_batch(30, project=project, author=annotator2)
    client = api(annotator)
    url = f"/api/v1/projects/{project.pk}/examples/"
    client.get(url)  # warm-up: the role lookup is cached on the user for the rest of the test
    small = count_queries(lambda: client.get(url, {"page_size": 5}))
    with django_assert_num_queries(small):
        client.get(url, {"page_size": 60})


def test_example_list_page_queries_do_not_grow(project, annotator, annotator2, settings, django_assert_num_queries):
    ExampleFactory.create_batch(40, project=project, author=annotator)
    ExampleFactory.create_batch(20, project=project, author=annotator2)
    client = Client()
    client.force_login(annotator)
    url = f"/projects/{project.pk}/examples/"
    settings.ANNOTUNE_PAGE_SIZE = 5
    small = count_queries(lambda: client.get(url))
    settings.ANNOTUNE_PAGE_SIZE = 60
    with django_assert_num_queries(small):
        response = client.get(url)
    assert response.content.count(b'class="status status-') == 60


def _queries_of(client, method, path, body) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(path, body, format="json")
    assert response.status_code in (200, 201), response.content[:300]
    return len(ctx.captured_queries)


def test_an_annotators_save_and_submit_stay_lean(api, project, annotator):
    """The hot path of a team at work: each save re-validates the example but reads the project, its
    author and the knowledge base's state once (the knowledge fingerprint is one query)."""
    client = api(annotator)
    base = f"/api/v1/projects/{project.pk}/examples/"
    messages = [{"role": "user", "content": "Where is my parcel?"}, {"role": "assistant", "content": "On its way."}]
    created = client.post(base, {"messages": messages}, format="json").json()
    messages[1]["content"] = "It left the depot this morning."
    example = f"{base}{created['id']}/"
    save = _queries_of(client, "patch", example, {"version": created["version"], "messages": messages})
    submit = _queries_of(client, "post", f"{example}submit/", {"version": created["version"] + 1})
    # Token or session, project with the member's role, the example; then the write and its revision,
    # the knowledge fingerprint and the findings (and the transitions of a submit); no reload of the
    # project or the author.
    assert save <= 9, save  # 13 before the fingerprint was one query and the reload kept project and author
    assert submit <= 10, submit
