"""A version file the storage cannot give (deleted, damaged) is a clear error on every path that reads it,
never a 500 with a traceback."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from curated_data.services import versions

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(project, owner, approved):
    approved(6)
    first = versions.version_create(project=project, user=owner)
    approved(2, start=10)
    return first, versions.version_create(project=project, user=owner)


@pytest.fixture
def page(owner):
    client = Client(raise_request_exception=True)
    client.force_login(owner)
    return client


def test_a_missing_file_is_a_503_that_says_so_on_downloads(api, page, project, annotator, two_versions, storage_root):
    first, _ = two_versions
    default_storage.delete(first.train_path)
    response = api(annotator).get(f"/api/v1/projects/{project.pk}/versions/1/download/", {"part": "train"})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "train file of dataset version 1" in detail
    assert "missing" in detail
    assert str(storage_root) not in detail  # no server path in the answer
    response = page.get(f"/projects/{project.pk}/datasets/versions/1/download/train/")
    assert response.status_code == 503
    assert b"missing from the artifact storage" in response.content
    # The other files still download.
    assert page.get(f"/projects/{project.pk}/datasets/versions/1/download/all/").status_code == 200


def test_a_missing_manifest_is_a_503_on_the_diff(api, page, project, annotator, two_versions):
    _, second = two_versions
    default_storage.delete(second.manifest_path)
    response = api(annotator).get(f"/api/v1/projects/{project.pk}/versions/1/diff/2/")
    assert response.status_code == 503
    assert "manifest file of dataset version 2" in response.json()["detail"]
    response = page.get(f"/projects/{project.pk}/datasets/versions/diff/", {"base": 1, "target": 2})
    assert response.status_code == 503
    assert b"manifest file of dataset version 2" in response.content


@pytest.mark.parametrize("content", [b"not json\n", b"[1, 2]\n", b'{"id": 1}\n', b"\xff\xfe\n"])
def test_a_damaged_manifest_is_named_on_the_diff(api, project, annotator, two_versions, storage_root, content):
    first, _ = two_versions
    (storage_root / first.manifest_path).write_bytes(content)
    response = api(annotator).get(f"/api/v1/projects/{project.pk}/versions/1/diff/2/")
    assert response.status_code == 400
    assert "manifest file of dataset version 1" in response.json()["detail"]
    assert "damaged" in response.json()["detail"]
