"""Who may do what with adapters: members see, download and generate; owners change, merge, combine, delete."""

from __future__ import annotations

import pytest

from serving.models import Adapter, AdapterOperation, GenerationRequest
from tests.serving.adapter_fixtures import *  # noqa: F403

CHAT = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def adapter(make_adapter, adapter_dirs):
    return make_adapter("Lawyer", adapter_dirs["a"])


def calls(project, adapter):
    base = f"/api/v1/projects/{project.pk}"
    return {
        "list": ("get", f"{base}/adapters/", None),
        "detail": ("get", f"{base}/adapters/{adapter.pk}/", None),
        "download": ("get", f"{base}/adapters/{adapter.pk}/download/", None),
        "generate": ("post", f"{base}/generate", {"messages": CHAT, "timeout": 0}),
        "rename": ("patch", f"{base}/adapters/{adapter.pk}/", {"name": "x"}),
        "merge": ("post", f"{base}/adapters/{adapter.pk}/merge/", None),
        "combine": ("post", f"{base}/adapters/combine/", {"name": "m", "sources": [{"adapter_id": adapter.pk}] * 2}),
        "delete": ("delete", f"{base}/adapters/{adapter.pk}/", None),
    }


def status_of(client, method, url, data):
    return getattr(client, method)(url, data, format="json").status_code


@pytest.mark.parametrize("name", ["list", "detail", "download", "generate", "rename", "merge", "combine", "delete"])
def test_outsiders_get_404_for_everything(api, outsider, project, adapter, name):
    method, url, data = calls(project, adapter)[name]
    assert status_of(api(outsider), method, url, data) == 404
    assert status_of(api(None), method, url, data) in {401, 403}
    assert Adapter.objects.filter(pk=adapter.pk, name="Lawyer").exists()
    assert not AdapterOperation.objects.exists()
    assert not GenerationRequest.objects.exists()


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
@pytest.mark.parametrize("name", ["rename", "merge", "combine", "delete"])
def test_non_owners_cannot_change_merge_combine_or_delete(request, api, project, adapter, role, name):
    method, url, data = calls(project, adapter)[name]
    assert status_of(api(request.getfixturevalue(role)), method, url, data) == 403
    assert Adapter.objects.filter(pk=adapter.pk, name="Lawyer").exists()
    assert not AdapterOperation.objects.exists()


@pytest.mark.parametrize("name", ["list", "detail", "download"])
def test_members_see_and_download(api, annotator, project, adapter, name):
    method, url, data = calls(project, adapter)[name]
    assert status_of(api(annotator), method, url, data) == 200


def test_members_generate(api, annotator, project, adapter):
    """No worker runs here: with timeout 0 the call answers 504 with the request to poll."""
    method, url, data = calls(project, adapter)["generate"]
    response = api(annotator).post(url, data, format="json")
    assert response.status_code == 504
    assert GenerationRequest.objects.get(pk=response.json()["id"]).created_by == annotator


def test_owner_merges(api, owner, project, adapter):
    method, url, data = calls(project, adapter)["merge"]
    assert status_of(api(owner), method, url, data) == 202


def test_outsiders_get_404_on_pages(client, outsider, project, adapter):
    client.force_login(outsider)
    for url in ("adapters/", f"adapters/{adapter.pk}/", f"adapters/{adapter.pk}/download/", "playground/"):
        assert client.get(f"/projects/{project.pk}/{url}").status_code == 404, url
    assert client.post(f"/projects/{project.pk}/adapters/{adapter.pk}/merge/").status_code == 404


def test_annotators_get_403_on_owner_pages(client, annotator, project, adapter):
    client.force_login(annotator)
    assert client.post(f"/projects/{project.pk}/adapters/{adapter.pk}/merge/").status_code == 403
    assert client.get(f"/projects/{project.pk}/adapters/{adapter.pk}/delete/").status_code == 403
    assert client.get(f"/projects/{project.pk}/adapters/combine/").status_code == 403
    change = client.post(f"/projects/{project.pk}/adapters/{adapter.pk}/change/", {"action": "activate"})
    assert change.status_code == 403
    assert not Adapter.objects.get(pk=adapter.pk).is_active
