"""Bad input gets a clear error naming what to fix, and changes nothing."""

from __future__ import annotations

import pytest

from annotation.models import Example, Revision

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/{}/examples/"


@pytest.mark.parametrize(
    ("messages", "field", "words"),
    [
        ([], "messages", "at least one turn"),
        ("hello", "messages", "list of turns"),
        ([{"role": "user", "content": "   "}], "messages[0].content", "empty"),
        ([{"role": "user", "content": "x" * 40_000}], "messages[0].content", "limit"),
        ([{"role": "robot", "content": "beep"}], "messages[0].role", "Unknown role"),
        ([{"role": "assistant", "content": "I start"}], "messages[0].role", "Expected 'user'"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            "messages[1].role",
            "Expected 'assistant'",
        ),
        (
            [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}],
            "messages[1].role",
            "first turn",
        ),
        ([{"role": "user", "content": 5}], "messages[0].content", "text"),
        ([{"role": "user", "content": "a", "name": "x"}], "messages[0]", "Unknown field"),
        ([{"role": "user", "content": "a"}] * 100, "messages", "at most"),
    ],
)
def test_bad_messages_are_refused_with_field_errors(api, project, annotator, messages, field, words):
    response = api(annotator).post(URL.format(project.pk), {"messages": messages}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"], body
    assert words.lower() in (body["detail"] + " ".join(map(str, body["errors"][field]))).lower()
    assert Example.objects.count() == 0
    assert Revision.objects.count() == 0


def test_invalid_json_is_a_clear_400(api, project, annotator):
    response = api(annotator).post(URL.format(project.pk), data='{"messages": [', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert Example.objects.count() == 0


@pytest.mark.parametrize("body", [[1, 2], "just text", 42, None])
def test_non_object_bodies_are_refused(api, project, annotator, body):
    response = api(annotator).post(URL.format(project.pk), data=body, format="json")
    assert response.status_code == 400
    assert Example.objects.count() == 0


def test_unknown_category_and_tags(api, project, annotator, two_turns):
    response = api(annotator).post(
        URL.format(project.pk), {"messages": two_turns, "category": "astrology", "style_tags": "x"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"category", "style_tags"}
    assert Example.objects.count() == 0


def test_stale_version_through_api_is_409_and_keeps_first_save(api, project, annotator, two_turns):
    client = api(annotator)
    created = client.post(URL.format(project.pk), {"messages": two_turns}, format="json").json()
    url = f"{URL.format(project.pk)}{created['id']}/"
    first = [two_turns[0], {"role": "assistant", "content": "Saved first."}]
    assert client.patch(url, {"version": 1, "messages": first}, format="json").status_code == 200
    second = [two_turns[0], {"role": "assistant", "content": "Stale."}]
    response = client.patch(url, {"version": 1, "messages": second}, format="json")
    assert response.status_code == 409
    assert "Nothing was overwritten" in response.json()["detail"]
    assert client.get(url).json()["messages"][1]["content"] == "Saved first."


def test_patch_without_version_is_refused(api, project, annotator, two_turns):
    client = api(annotator)
    created = client.post(URL.format(project.pk), {"messages": two_turns}, format="json").json()
    response = client.patch(f"{URL.format(project.pk)}{created['id']}/", {"messages": two_turns}, format="json")
    assert response.status_code == 400
    assert "version" in response.json()["errors"]


@pytest.mark.parametrize("path", ["abc/", "99999999/", "-1/"])
def test_odd_ids_are_404_not_500(api, annotator, path):
    response = api(annotator).get(f"/api/v1/projects/{path}")
    assert response.status_code == 404


def test_project_create_with_bad_categories_is_400(api, owner):
    response = api(owner).post("/api/v1/projects/", {"name": "X", "categories": {"a": 1}}, format="json")
    assert response.status_code == 400
    assert "categories" in response.json()["errors"]


JUNK = [
    None,
    "",
    "text",
    0,
    -1,
    10**30,
    True,
    [],
    [None],
    {},
    {"messages": None},
    {"messages": [[]]},
    {"messages": [{"role": None, "content": None}]},
    {"messages": {"role": "user"}},
    {"version": "one", "messages": "x"},
    {"version": 10**30},
    {"name": ["list"], "categories": [[1]], "reviews_required": "2"},
    {"name": "x", "glossary": [1], "style_tags": {"a": 1}, "response_schema": "nope"},
    {"username": {"$ne": 1}, "role": ["owner"]},
    {"role": "\u0000"},
]
# Raw JSON texts a client library would never produce: lone surrogates and NUL characters.
RAW = [
    '{"messages": [{"role": "user", "content": "\\ud800 broken"}]}',
    '{"messages": [{"role": "user", "content": "nul \\u0000 inside"}], "context": "\\u0000"}',
    '{"name": "\\udfff", "guidelines": "\\u0000"}',
    '{"version": 1, "messages": [{"role": "user", "content": "x\\u0000"}]}',
]


def test_no_junk_body_yields_a_server_error(api, project, owner, annotator):
    from tests.factories import ExampleFactory

    example = ExampleFactory(project=project, author=owner)
    p, e = project.pk, example.pk
    targets = [
        ("post", "/api/v1/projects/"),
        ("patch", f"/api/v1/projects/{p}/"),
        ("post", f"/api/v1/projects/{p}/members/"),
        ("patch", f"/api/v1/projects/{p}/members/{annotator.pk}/"),
        ("post", f"/api/v1/projects/{p}/examples/"),
        ("patch", f"/api/v1/projects/{p}/examples/{e}/"),
        ("post", f"/api/v1/projects/{p}/examples/{e}/submit/"),
    ]
    client = api(owner)
    for method, url in targets:
        for body in JUNK:
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code < 500, (method, url, body, response.content[:300])
            if response.status_code >= 400:
                assert "detail" in response.json(), (method, url, body)
        for raw in RAW:
            response = getattr(client, method)(url, raw, content_type="application/json")
            assert response.status_code < 500, (method, url, raw, response.content[:300])
