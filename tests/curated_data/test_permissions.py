"""Who may do what: owners import and create versions; every member exports and reads versions; outsiders 404."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation.models import Example
from curated_data.models import DatasetVersion, ImportJob
from curated_data.services import versions

pytestmark = pytest.mark.django_db

CHAT = b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n'


@pytest.fixture
def version(project, owner, approved):
    approved(4)
    versions.version_create(project=project, user=owner)
    return versions.version_create(project=project, user=owner)


@pytest.fixture
def job(run_import):
    return run_import(b"{broken\n")


def reads(project, job):
    p, j = project.pk, job.pk
    return [
        f"/api/v1/projects/{p}/imports/",
        f"/api/v1/projects/{p}/imports/{j}/",
        f"/api/v1/projects/{p}/export/?file_format=csv",
        f"/api/v1/projects/{p}/versions/",
        f"/api/v1/projects/{p}/versions/2/",
        f"/api/v1/projects/{p}/versions/2/download/?part=validation",
        f"/api/v1/projects/{p}/versions/1/diff/2/",
        f"/projects/{p}/datasets/import/",
        f"/projects/{p}/datasets/import/{j}/",
        f"/projects/{p}/datasets/import/{j}/progress/",
        f"/projects/{p}/datasets/export/",
        f"/projects/{p}/datasets/export/?download=1&file_format=alpaca",
        f"/projects/{p}/datasets/versions/",
        f"/projects/{p}/datasets/versions/2/",
        f"/projects/{p}/datasets/versions/2/download/train/",
        f"/projects/{p}/datasets/versions/diff/?base=1&target=2",
    ]


def upload():
    return {"file": SimpleUploadedFile("a.jsonl", CHAT)}


def writes(project, job):
    """(client kind, method, url, data) of every operation only owners may do."""
    p, j = project.pk, job.pk
    return [
        ("api", f"/api/v1/projects/{p}/imports/", upload, "multipart"),
        ("api", f"/api/v1/projects/{p}/imports/{j}/retry/", dict, "json"),
        ("api", f"/api/v1/projects/{p}/imports/{j}/mapping/", lambda: {"mapping": {"prompt": "a"}}, "json"),
        ("api", f"/api/v1/projects/{p}/versions/", dict, "json"),
        ("page", f"/projects/{p}/datasets/import/", lambda: {**upload(), "status": "draft"}, None),
        ("page", f"/projects/{p}/datasets/import/{j}/retry/", dict, None),
        ("page", f"/projects/{p}/datasets/versions/", dict, None),
    ]


def test_outsiders_get_404_everywhere(api, project, job, version, outsider):
    client, page = api(outsider), Client()
    page.force_login(outsider)
    for url in reads(project, job):
        response = (client if url.startswith("/api/") else page).get(url)
        assert response.status_code == 404, url
    for kind, url, data, fmt in writes(project, job):
        response = client.post(url, data(), format=fmt) if kind == "api" else page.post(url, data())
        assert response.status_code == 404, url
    assert Example.objects.count() == 4  # the approved ones of the fixture, nothing imported


def test_anonymous_users_are_sent_to_log_in(project, job, version, api):
    for url in reads(project, job):
        response = (api() if url.startswith("/api/") else Client()).get(url)
        assert response.status_code in (302, 401, 403), url


@pytest.mark.parametrize("member", ["reviewer", "annotator"])
def test_members_read_and_export_but_do_not_import_or_version(request, api, project, job, version, member):
    user = request.getfixturevalue(member)
    client, page = api(user), Client()
    page.force_login(user)
    for url in reads(project, job):
        response = (client if url.startswith("/api/") else page).get(url)
        assert response.status_code == 200, url
    for kind, url, data, fmt in writes(project, job):
        response = client.post(url, data(), format=fmt) if kind == "api" else page.post(url, data())
        assert response.status_code == 403, url
    assert ImportJob.objects.count() == 1
    assert DatasetVersion.objects.count() == 2
    assert Example.objects.count() == 4


def test_owners_may_do_everything(api, project, job, version, owner):
    client = api(owner)
    for url in reads(project, job):
        response = client.get(url) if url.startswith("/api/") else None
        assert response is None or response.status_code == 200, url
    assert client.post(f"/api/v1/projects/{project.pk}/imports/", upload(), format="multipart").status_code == 202
    assert client.post(f"/api/v1/projects/{project.pk}/versions/", {}, format="json").status_code == 201


def test_the_api_schema_documents_every_dataset_operation(api, owner):
    response = api(owner).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for operation in (
        "imports_list",
        "imports_create",
        "imports_retrieve",
        "imports_map",
        "imports_retry",
        "examples_export",
        "versions_list",
        "versions_create",
        "versions_retrieve",
        "versions_download",
        "versions_diff",
    ):
        assert f'"{operation}"' in text or f"operationId: {operation}" in text, operation
    assert "multipart/form-data" in text
