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
