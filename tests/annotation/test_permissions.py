"""Permission matrix: outsiders see nothing; annotators edit only their own examples."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Example, Project
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def example(project, annotator):
    return ExampleFactory(project=project, author=annotator)


def api_calls(project, example):
    p, e = project.pk, example.pk
    msgs = {"messages": [{"role": "user", "content": "hi"}]}
    return [
        ("get", f"/api/v1/projects/{p}/", None),
        ("patch", f"/api/v1/projects/{p}/", {"name": "taken"}),
        ("get", f"/api/v1/projects/{p}/members/", None),
        ("post", f"/api/v1/projects/{p}/members/", {"username": "oscar"}),
        ("get", f"/api/v1/projects/{p}/examples/", None),
        ("post", f"/api/v1/projects/{p}/examples/", msgs),
        ("get", f"/api/v1/projects/{p}/examples/{e}/", None),
        ("patch", f"/api/v1/projects/{p}/examples/{e}/", {"version": 1, **msgs}),
        ("delete", f"/api/v1/projects/{p}/examples/{e}/", None),
        ("post", f"/api/v1/projects/{p}/examples/{e}/submit/", {}),
        ("get", f"/api/v1/projects/{p}/examples/{e}/revisions/", None),
    ]


def page_urls(project, example):
    p, e = project.pk, example.pk
    return [
        ("get", f"/projects/{p}/"),
        ("get", f"/projects/{p}/settings/"),
        ("get", f"/projects/{p}/members/"),
        ("post", f"/projects/{p}/members/"),
        ("get", f"/projects/{p}/examples/"),
        ("get", f"/projects/{p}/examples/new/"),
        ("post", f"/projects/{p}/examples/new/"),
        ("get", f"/projects/{p}/examples/{e}/"),
        ("get", f"/projects/{p}/examples/{e}/edit/"),
        ("post", f"/projects/{p}/examples/{e}/edit/"),
        ("post", f"/projects/{p}/examples/{e}/submit/"),
    ]


def test_outsider_gets_404_everywhere_in_the_api(api, project, example, outsider):
    client = api(outsider)
    for method, url, body in api_calls(project, example):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get("/api/v1/projects/").json() == []
    project.refresh_from_db()
    assert project.name == "Support bot"
    assert Example.objects.count() == 1


def test_outsider_gets_404_on_every_page(project, example, outsider):
    client = Client()
    client.force_login(outsider)
    for method, url in page_urls(project, example):
        response = getattr(client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
    assert b"Support bot" not in client.get("/projects/").content


def test_anonymous_is_sent_to_login(project, example):
    client = Client()
    for method, url in page_urls(project, example):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/login/" in response["Location"], url


def test_annotator_cannot_edit_another_members_example(api, project, example, annotator2):
    client = api(annotator2)
    base = f"/api/v1/projects/{project.pk}/examples/{example.pk}/"
    new = {"version": 1, "messages": [{"role": "user", "content": "overwritten"}]}
    assert client.get(base).status_code == 200  # members read each other's work
    assert client.patch(base, new, format="json").status_code == 403
    assert client.delete(base).status_code == 403
    assert client.post(f"{base}submit/", {}, format="json").status_code == 403
    page = Client()
    page.force_login(annotator2)
    edit_url = f"/projects/{project.pk}/examples/{example.pk}/edit/"
    assert page.get(edit_url).status_code == 403
    assert page.post(edit_url, {"version": 1, "role": ["user"], "content": ["overwritten"]}).status_code == 403
    example.refresh_from_db()
    assert example.version == 1
    assert "overwritten" not in str(example.messages)


@pytest.mark.parametrize("who", ["reviewer", "annotator"])
def test_non_owners_cannot_change_settings_or_members(api, project, request, who):
    user = request.getfixturevalue(who)
    client = api(user)
    assert client.patch(f"/api/v1/projects/{project.pk}/", {"name": "x"}, format="json").status_code == 403
    assert (
        client.post(f"/api/v1/projects/{project.pk}/members/", {"username": "oscar"}, format="json").status_code == 403
    )
    assert Project.objects.get(pk=project.pk).name == "Support bot"
    page = Client()
    page.force_login(user)
    assert page.get(f"/projects/{project.pk}/settings/").status_code == 403
