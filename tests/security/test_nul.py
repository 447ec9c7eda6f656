"""A NUL byte in a query parameter or form field is a 400 that names it: JSON under /api/, a page elsewhere.

On PostgreSQL these requests were 500s (psycopg DataError: NUL in a string literal); the middleware
refuses them before any query runs, on every database.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ExampleFactory


@pytest.fixture
def pages(project, owner):
    ExampleFactory(project=project, author=owner)
    pk = project.pk
    return {
        "examples api": f"/api/v1/projects/{pk}/examples/",
        "export api": f"/api/v1/projects/{pk}/export/",
        "example list": reverse("example-list", args=[pk]),
        "export page": reverse("dataset-export", args=[pk]) + "?download=1",
        "review queue": reverse("review-next", args=[pk]),
        "my work": reverse("my-work", args=[pk]),
    }


@pytest.mark.parametrize("param", ["q", "category", "author", "status"])
def test_nul_in_query_parameter_is_400_everywhere(client, owner, pages, param):
    client.force_login(owner)
    for name, url in pages.items():
        response = client.get(url, {param: "a\x00b"})
        assert response.status_code == 400, name
        if url.startswith("/api/"):
            body = response.json()
            assert param in body["detail"], name
            assert "NUL" in body["detail"], name
            assert param in body["errors"], name
        else:
            assert response["Content-Type"].startswith("text/html"), name
            assert "NUL" in response.content.decode(), name


def test_nul_in_parameter_name_and_path(client, owner, project):
    client.force_login(owner)
    assert client.get(f"/api/v1/projects/{project.pk}/examples/?a%00b=1").status_code == 400
    assert client.get("/projects/%00/").status_code == 400


def test_nul_in_form_field_is_400(client, owner, project):
    client.force_login(owner)
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "fact", "statement": "x\x00y"})
    assert response.status_code == 400
    assert "statement" in response.content.decode()


def test_plain_parameters_still_work(client, owner, pages):
    client.force_login(owner)
    for name, url in pages.items():
        assert client.get(url, {"q": "invoice"}).status_code in (200, 302), name


def test_nul_in_token_header_is_401_not_500(db):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token abc\x00def")
    assert client.get("/api/v1/projects/").status_code == 401
