"""The versions list a page at a time (a project can have hundreds): on the page and in the API."""

from __future__ import annotations

import re

import pytest

from curated_data.services import versions

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_versions(project, owner, approved):
    approved(4)
    for _ in range(5):
        versions.version_create(project=project, user=owner)


def listed(html: str) -> list[int]:
    """The version numbers of the page's table (links to each version), in order."""
    return [int(n) for n in re.findall(r'<td><a href="/projects/\d+/datasets/versions/(\d+)/">', html)]


def page_url(project) -> str:
    return f"/projects/{project.pk}/datasets/versions/"


def test_the_page_shows_one_page_of_versions_and_links_to_the_next(client, project, owner, five_versions, settings):
    settings.ANNOTUNE_PAGE_SIZE = 2
    client.force_login(owner)
    first = client.get(page_url(project)).content.decode()
    assert listed(first) == [5, 4]
    assert "Page 1 of 3" in first
    assert 'href="?page=2"' in first
    assert "← Previous" not in first
    second = client.get(page_url(project), {"page": 2}).content.decode()
    assert listed(second) == [3, 2]
    assert 'href="?page=1"' in second
    assert 'href="?page=3"' in second
    last = client.get(page_url(project), {"page": 3}).content.decode()
    assert listed(last) == [1]
    assert "Next →" not in last
    # The diff form compares any two versions, not only those shown on the page.
    assert all(f'<option value="{n}"' in last for n in range(1, 6))


def test_one_page_of_versions_shows_no_pager(client, project, owner, five_versions):
    client.force_login(owner)
    html = client.get(page_url(project)).content.decode()
    assert listed(html) == [5, 4, 3, 2, 1]
    assert 'class="pager"' not in html


@pytest.mark.parametrize(("page", "shown"), [("abc", [5, 4]), ("", [5, 4]), ("99", [1]), ("0", [1]), ("-2", [1])])
def test_a_bad_page_number_shows_a_page_not_an_error(client, project, owner, five_versions, settings, page, shown):
    """As the other listed pages: not a number gives the first page, past either end the last."""
    settings.ANNOTUNE_PAGE_SIZE = 2
    client.force_login(owner)
    response = client.get(page_url(project), {"page": page})
    assert response.status_code == 200
    assert listed(response.content.decode()) == shown


def test_the_list_reads_the_same_few_queries_whatever_the_page(
    client, project, owner, five_versions, settings, django_assert_max_num_queries
):
    settings.ANNOTUNE_PAGE_SIZE = 2
    client.force_login(owner)
    for page in (1, 2, 3):
        with django_assert_max_num_queries(12):
            assert client.get(page_url(project), {"page": page}).status_code == 200


def api_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/versions/"


def test_the_api_pages_with_count_next_and_previous(api, project, annotator, five_versions):
    client = api(annotator)
    first = client.get(api_url(project), {"page_size": 2}).json()
    assert first["count"] == 5
    assert [v["number"] for v in first["results"]] == [5, 4]
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert "page_size=2" in first["next"]
    second = client.get(first["next"]).json()
    assert [v["number"] for v in second["results"]] == [3, 2]
    assert second["previous"] is not None
    last = client.get(second["next"]).json()
    assert [v["number"] for v in last["results"]] == [1]
    assert last["next"] is None


def test_the_api_default_page_holds_every_version_of_a_small_project(api, project, annotator, five_versions):
    body = api(annotator).get(api_url(project)).json()
    assert (body["count"], body["next"], body["previous"]) == (5, None, None)
    assert [v["number"] for v in body["results"]] == [5, 4, 3, 2, 1]


def test_the_api_page_size_follows_the_setting_as_the_page_does(api, project, annotator, five_versions, settings):
    settings.ANNOTUNE_PAGE_SIZE = 3
    body = api(annotator).get(api_url(project)).json()
    assert [v["number"] for v in body["results"]] == [5, 4, 3]
    assert "page=2" in body["next"]


def test_a_page_past_the_end_is_a_404_that_says_so(api, project, annotator, five_versions):
    response = api(annotator).get(api_url(project), {"page": 4, "page_size": 2})
    assert response.status_code == 404
    assert response.json()["detail"] == "No page 4 of versions: the list has fewer pages. Start at page 1."


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page": "abc"}, "page"),
        ({"page": 0}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 501}, "page_size"),
        ({"pge": 2}, "pge"),
    ],
)
def test_a_bad_page_query_is_refused_by_name(api, project, annotator, five_versions, query, field):
    response = api(annotator).get(api_url(project), query)
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_outsiders_are_refused_every_page(api, client, project, outsider, five_versions, settings):
    settings.ANNOTUNE_PAGE_SIZE = 2
    client.force_login(outsider)
    for page in (1, 2):
        assert client.get(page_url(project), {"page": page}).status_code == 404
        response = api(outsider).get(api_url(project), {"page": page, "page_size": 2})
        assert response.status_code == 404
        assert "results" not in response.json()
