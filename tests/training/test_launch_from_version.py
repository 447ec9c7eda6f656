"""Training reads a dataset version: the form, the Train buttons and the API launch one, hash for hash."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from curated_data.models import DatasetVersion, VersionBuild
from curated_data.services.versions import version_create
from training.models import BaseModel, TrainingJob
from training.services.jobs import job_launch_latest

from .jobs.conftest import approve, estimated, tiny_models, training_folders  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainable(project, owner, tiny_models):  # noqa: F811
    project.base_model = BaseModel.objects.create(name="tiny", source=tiny_models("llama"))
    project.save()
    return project


@pytest.fixture
def versions(trainable, owner, approve):  # noqa: F811
    """Two versions: v1 of 12 approved examples, v2 of 16."""
    approve(trainable, owner, 12)
    v1 = version_create(project=trainable, user=owner, validation_fraction=0.25)
    approve(trainable, owner, 4)
    v2 = version_create(project=trainable, user=owner, validation_fraction=0.25)
    assert v1.sha256 != v2.sha256
    return v1, v2


@pytest.fixture
def browser(owner):
    client = Client()
    client.force_login(owner)
    return client


def checked(html: bytes) -> str:
    """The value of the checked data radio button."""
    found = re.findall(rb'name="dataset" value="(\w+)"[^>]*checked', html)
    assert len(found) == 1, found
    return found[0].decode()


def split(version) -> bytes:
    return f"{version.train_count} train / {version.validation_count} validation".encode()


def test_form_lists_versions_with_their_split_latest_preselected(browser, trainable, versions):
    v1, v2 = versions
    page = browser.get(f"/projects/{trainable.pk}/training/new/")
    assert page.status_code == 200
    html = page.content
    assert b"Version 2 (latest) \xc2\xb7 " + split(v2) in html
    assert b"Version 1 \xc2\xb7 " + split(v1) in html
    assert b'name="dataset" value="2"' in html
    assert checked(html) == "2"
    assert b'value="snapshot"' not in html  # training reads versions only

    chosen = browser.get(f"/projects/{trainable.pk}/training/new/?version=1").content
    assert checked(chosen) == "1"

    missing = browser.get(f"/projects/{trainable.pk}/training/new/?version=9", follow=True)
    assert missing.status_code == 200
    assert b"no dataset version &#x27;9&#x27;" in missing.content


def test_form_launch_trains_the_chosen_version(browser, trainable, versions, django_capture_on_commit_callbacks):
    v1, _v2 = versions
    with django_capture_on_commit_callbacks(execute=False):
        response = browser.post(f"/projects/{trainable.pk}/training/new/", {"dataset": "1", "preset": "quick"})
    assert response.status_code == 302, response.content.decode()[:2000]
    job = TrainingJob.objects.get()
    assert job.dataset_version == v1
    assert job.dataset_sha256 == v1.sha256
    assert (job.train_path, job.train_examples, job.validation_examples) == (
        v1.train_path,
        v1.train_count,
        v1.validation_count,
    )
    listing = browser.get(f"/projects/{trainable.pk}/training/").content
    assert split(v1) in listing
    assert f'href="/projects/{trainable.pk}/datasets/versions/1/"'.encode() in listing or b">v1</a>" in listing
    header = browser.get(reverse("training-job-detail", args=[trainable.pk, job.pk])).content
    assert b"dataset version v1" in header
    assert str(v1.train_count).encode() in header
    assert str(v1.validation_count).encode() in header


def test_bad_data_choice_is_refused_and_launches_nothing(browser, trainable, versions):
    response = browser.post(f"/projects/{trainable.pk}/training/new/", {"dataset": "7", "preset": "quick"})
    assert response.status_code == 400
    assert b"choose one of the listed versions" in response.content
    response = browser.post(f"/projects/{trainable.pk}/training/new/", {"preset": "quick"})
    assert response.status_code == 400
    assert b"Choose the data to train on" in response.content
    assert not TrainingJob.objects.exists()


def test_estimate_does_not_depend_on_the_data_choice(browser, trainable):
    estimated(trainable.base_model, preset="quick")
    response = browser.post(f"/projects/{trainable.pk}/training/estimate/", {"preset": "quick"})
    assert response.status_code == 200
    assert b"GiB" in response.content
    assert b"Fix the highlighted fields" not in response.content


def test_one_click_trains_the_latest_version(browser, trainable, versions, django_capture_on_commit_callbacks):
    _v1, v2 = versions
    project_page = browser.get(f"/projects/{trainable.pk}/").content
    assert b">Train</button>" in project_page
    assert b"dataset version 2 (" + split(v2) + b")" in project_page
    with django_capture_on_commit_callbacks(execute=False):
        response = browser.post(f"/projects/{trainable.pk}/training/one-click/", follow=True)
    job = TrainingJob.objects.get()
    assert (job.dataset_version, job.dataset_sha256, job.preset) == (v2, v2.sha256, "balanced")
    assert b"dataset version 2 (" + split(v2) + b")" in response.content
    # 16 examples hold out 4: the page says the figures computed on them can't be trusted.
    assert f"Version 2 has only {v2.validation_count} validation examples".encode() in response.content
    assert b"can&#x27;t be trusted" in response.content


def test_one_click_without_a_version_creates_it_and_says_so(
    browser,
    trainable,
    owner,
    approve,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    """A new user's first click: the launch makes version 1 of the approved examples and trains on it."""
    approve(trainable, owner, 12)
    with django_capture_on_commit_callbacks(execute=False):
        response = browser.post(f"/projects/{trainable.pk}/training/one-click/", follow=True)
    assert response.status_code == 200
    version = DatasetVersion.objects.get(project=trainable)
    job = TrainingJob.objects.get()
    assert (job.dataset_version, job.dataset_sha256, job.train_path) == (version, version.sha256, version.train_path)
    assert response.redirect_chain[-1][0] == f"/projects/{trainable.pk}/training/{job.pk}/"
    assert b"Version 1 was created from the 12 approved examples." in response.content


def test_one_click_on_a_project_too_large_for_a_version_in_the_request_links_to_the_versions_page(
    browser,
    trainable,
    owner,
    approve,  # noqa: F811
    settings,
):
    settings.ANNOTUNE_VERSION_INLINE_MAX = 5
    approve(trainable, owner, 6)
    response = browser.post(f"/projects/{trainable.pk}/training/one-click/", follow=True)
    assert response.redirect_chain[-1][0] == f"/projects/{trainable.pk}/datasets/versions/"
    assert b"more than 5 approved examples" in response.content
    assert b"create it on the versions page" in response.content
    assert b"Create version" in response.content  # the form that makes one is right there
    assert not TrainingJob.objects.exists()
    assert not DatasetVersion.objects.exists()
    assert not VersionBuild.objects.exists()  # nothing queued behind the user's back either


def test_one_click_without_approved_examples_explains(browser, trainable):
    response = browser.post(f"/projects/{trainable.pk}/training/one-click/", follow=True)
    assert response.redirect_chain[-1][0] == f"/projects/{trainable.pk}/"
    assert b"no approved examples to train on yet" in response.content
    assert not DatasetVersion.objects.exists()


def test_a_refused_launch_keeps_no_version_it_made(trainable, owner, approve, settings):  # noqa: F811
    from annotune.errors import ApplicationError

    approve(trainable, owner, 12)
    settings.ANNOTUNE_TRAINING_QUEUED_PER_OWNER = 1
    TrainingJob.objects.create(  # one queued job already: the cap refuses this launch after its version is made
        project=trainable,
        base_model=trainable.base_model,
        train_path="x/train.jsonl",
        dataset_sha256="0" * 64,
        method="lora",
        config={},
        created_by=owner,
    )
    with pytest.raises(ApplicationError, match="waiting in the queue"):
        job_launch_latest(project=trainable, user=owner)
    assert not DatasetVersion.objects.exists()
    assert TrainingJob.objects.count() == 1


def test_the_form_without_a_version_says_the_launch_makes_one(browser, trainable, owner, approve):  # noqa: F811
    approve(trainable, owner, 12)
    form = browser.get(f"/projects/{trainable.pk}/training/new/").content
    assert b"launching creates version 1 from the approved examples" in form
    assert f'href="/projects/{trainable.pk}/datasets/versions/"'.encode() in form


def test_version_pages_offer_train_with_the_same_counts(browser, trainable, versions, reviewer):
    v1, v2 = versions
    detail = browser.get(f"/projects/{trainable.pk}/datasets/versions/1/").content
    assert b"Train on this version" in detail
    assert f'href="/projects/{trainable.pk}/training/new/?version=1"'.encode() in detail
    assert split(v1) in detail
    listing = browser.get(f"/projects/{trainable.pk}/datasets/versions/").content
    assert split(v1) in listing
    assert split(v2) in listing
    assert f'href="/projects/{trainable.pk}/training/new/?version=2"'.encode() in listing
    other = Client()
    other.force_login(reviewer)
    assert b"Train on this version" not in other.get(f"/projects/{trainable.pk}/datasets/versions/1/").content


def test_api_launch_reads_the_version(api, trainable, owner, versions, django_capture_on_commit_callbacks):
    v1, v2 = versions
    client = api(owner)
    url = f"/api/v1/projects/{trainable.pk}/training-jobs/"
    with django_capture_on_commit_callbacks(execute=False):
        chosen = client.post(url, {"preset": "quick", "dataset_version": v1.pk}, format="json")
        latest = client.post(url, {"preset": "quick"}, format="json")
    assert chosen.status_code == 201, chosen.json()
    assert (chosen.json()["dataset_version"], chosen.json()["dataset_sha256"]) == (v1.pk, v1.sha256)
    assert (chosen.json()["train_examples"], chosen.json()["validation_examples"]) == (
        v1.train_count,
        v1.validation_count,
    )
    assert (latest.json()["dataset_version"], latest.json()["dataset_sha256"]) == (v2.pk, v2.sha256)

    snapshot = client.post(url, {"preset": "quick", "snapshot": True}, format="json")
    assert snapshot.status_code == 400  # no such field any more: said, not ignored
    assert "snapshot" in snapshot.json()["errors"]
    unknown = client.post(url, {"preset": "quick", "dataset_version": 987654}, format="json")
    assert unknown.status_code == 400
    assert "dataset_version" in unknown.json()["errors"]
    assert TrainingJob.objects.count() == 2


def test_api_launch_without_a_version_creates_the_first(
    api,
    trainable,
    owner,
    approve,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    approve(trainable, owner, 12)
    with django_capture_on_commit_callbacks(execute=False):
        response = api(owner).post(
            f"/api/v1/projects/{trainable.pk}/training-jobs/", {"preset": "quick"}, format="json"
        )
    assert response.status_code == 201, response.json()
    version = DatasetVersion.objects.get(project=trainable)
    assert (response.json()["dataset_version_number"], response.json()["dataset_sha256"]) == (1, version.sha256)


def test_openapi_documents_the_dataset_version(api, owner):
    schema = api(owner).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "Id of the dataset version to train on" in text
    assert "gets its first one made" in text
    assert "snapshot" not in text
