"""Large dataset versions are built by a worker (issue #26, versions as jobs): the request that asks for
one only queues a build (a project of a million examples never meets the web server's timeout); the
build's page follows it and opens the version; the API answers 202 with the build to poll. Projects of
at most ANNOTUNE_VERSION_INLINE_MAX approved examples get their version at once, as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from curated_data.models import DatasetVersion, VersionBuild
from curated_data.services import versions
from tests.workers import celery_worker


@pytest.fixture
def large(settings):
    """Three approved examples count as many here."""
    settings.ANNOTUNE_VERSION_INLINE_MAX = 2


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_the_page_queues_a_build_follows_it_and_opens_the_version(project, owner, approved, large):
    approved(3)
    client = page_client(owner)
    response = client.post(f"/projects/{project.pk}/datasets/versions/", {"notes": "big one"})
    build = VersionBuild.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.pk}/datasets/versions/builds/{build.pk}/"
    assert not DatasetVersion.objects.exists()  # nothing was built in the request
    page = client.get(response["Location"]).content.decode()
    assert "Queued" in page
    assert "More than 2 approved examples (counted when the build starts)" in page
    assert 'hx-trigger="every 1s"' in page
    listing = client.get(f"/projects/{project.pk}/datasets/versions/").content.decode()
    assert "is being built by a worker" in listing

    versions.version_build_run(build.pk)  # the worker's code, without the worker
    versions.version_build_run(build.pk)  # a second delivery of the message: a no-op
    build.refresh_from_db()
    assert build.status == "succeeded"
    assert (build.version.number, build.version.example_count, build.version.notes) == (1, 3, "big one")
    assert (build.attempts, build.example_count) == (1, 3)
    progress = client.get(f"/projects/{project.pk}/datasets/versions/builds/{build.pk}/progress/")
    assert progress["HX-Redirect"] == f"/projects/{project.pk}/datasets/versions/1/"
    assert "Version 1 is ready" in progress.content.decode()
    assert DatasetVersion.objects.count() == 1


@pytest.mark.django_db
def test_small_projects_get_their_version_in_the_request(project, owner, approved):
    approved(3)
    response = page_client(owner).post(f"/projects/{project.pk}/datasets/versions/", {"notes": ""})
    assert response["Location"] == f"/projects/{project.pk}/datasets/versions/1/"
    assert not VersionBuild.objects.exists()
    created = api_client(owner).post(f"/api/v1/projects/{project.pk}/versions/", {}, format="json")
    assert created.status_code == 201
    assert created.json()["number"] == 2


@pytest.mark.django_db
def test_the_api_answers_202_with_the_build_to_poll(project, owner, approved, large):
    approved(3)
    client = api_client(owner)
    response = client.post(f"/api/v1/projects/{project.pk}/versions/", {"seed": 7}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["version"], body["example_count"]) == ("queued", None, 0)  # counted by the worker
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"/api/v1/projects/{project.pk}/version-builds/{body['id']}/")
    # One build at a time per project.
    again = client.post(f"/api/v1/projects/{project.pk}/versions/", {}, format="json")
    assert again.status_code == 400
    assert "still queued" in again.json()["detail"]
    # Bad settings are refused in the request, as for small projects; nothing is queued.
    bad = client.post(f"/api/v1/projects/{project.pk}/versions/", {"validation_fraction": 1.5}, format="json")
    assert bad.status_code == 400
    assert VersionBuild.objects.count() == 1

    versions.version_build_run(body["id"])
    done = client.get(body["url"]).json()
    assert (done["status"], done["version"]) == ("succeeded", 1)
    assert DatasetVersion.objects.get(project=project).split_seed == 7


@pytest.mark.django_db
def test_check_errors_end_the_build_with_their_report(project, owner, approved, large, monkeypatch):
    approved(3)
    report = {"errors": [{"code": "balance", "severity": "error", "message": "Too few billing examples."}]}
    monkeypatch.setattr(versions, "run_dataset_checks", lambda examples, project: {**report, "checks": ["balance"]})
    client = page_client(owner)
    client.post(f"/projects/{project.pk}/datasets/versions/", {"notes": ""})
    build = VersionBuild.objects.get(project=project)
    versions.version_build_run(build.pk)
    build.refresh_from_db()
    assert build.status == "failed"
    assert build.report["errors"] == report["errors"]
    assert "give a reason to override them" in build.error
    page = client.get(f"/projects/{project.pk}/datasets/versions/builds/{build.pk}/").content.decode()
    assert "Too few billing examples." in page
    assert "create the version again with a reason to override them" in page
    assert not DatasetVersion.objects.exists()
    # With a reason the next build makes the version.
    client.post(f"/projects/{project.pk}/datasets/versions/", {"override_reason": "Billing is being written."})
    second = VersionBuild.objects.exclude(pk=build.pk).get()
    versions.version_build_run(second.pk)
    second.refresh_from_db()
    assert second.version.override_reason == "Billing is being written."


@pytest.mark.django_db
def test_who_may_see_and_start_builds(project, owner, annotator, outsider, approved, large):
    approved(3)
    annotator_client = page_client(annotator)
    assert annotator_client.post(f"/projects/{project.pk}/datasets/versions/", {"notes": ""}).status_code == 403
    page_client(owner).post(f"/projects/{project.pk}/datasets/versions/", {"notes": ""})
    build = VersionBuild.objects.get()
    url = f"/projects/{project.pk}/datasets/versions/builds/{build.pk}/"
    assert annotator_client.get(url).status_code == 200  # members follow it
    assert page_client(outsider).get(url).status_code == 404
    api = api_client(outsider).get(f"/api/v1/projects/{project.pk}/version-builds/{build.pk}/")
    assert api.status_code == 404


@pytest.mark.django_db
def test_a_build_whose_worker_died_is_queued_again(project, owner, approved, large, settings):
    approved(3)
    page_client(owner).post(f"/projects/{project.pk}/datasets/versions/", {"notes": ""})
    build = VersionBuild.objects.get()
    silent = timezone.now() - timedelta(seconds=settings.ANNOTUNE_VERSION_BUILD_STALE_SECONDS + 60)
    VersionBuild.objects.filter(pk=build.pk).update(status="running", attempts=1, heartbeat_at=silent)
    assert versions.reap_builds()["requeued"] == [build.pk]
    versions.version_build_run(build.pk)
    build.refresh_from_db()
    assert (build.status, build.attempts, build.version.number) == ("succeeded", 2, 1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_version(project, owner, approved, settings, storage_root):
    settings.ANNOTUNE_VERSION_INLINE_MAX = 2
    approved(3)
    env = {"ANNOTUNE_VERSION_INLINE_MAX": "2", "ANNOTUNE_STORAGE_ROOT": str(storage_root)}
    with celery_worker("default", env=env):
        response = api_client(owner).post(f"/api/v1/projects/{project.pk}/versions/", {}, format="json")
        assert response.status_code == 202
        build = VersionBuild.objects.get(pk=response.json()["id"])
        deadline = timezone.now() + timedelta(seconds=120)
        while build.status in ("queued", "running") and timezone.now() < deadline:
            build.refresh_from_db()
    assert build.status == "succeeded", build.error
    assert build.version.example_count == 3
