"""Caps on queued training (`training.services.quotas`): jobs waiting in the queue per person and per
project, unfinished rank sweeps per person and per project. Beyond them a launch is refused with 429,
Retry-After and a sentence saying how many are queued and what to do; nothing is created."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Role
from annotune.errors import TooManyRequestsError
from curated_data.services.versions import version_create
from tests.factories import MembershipFactory, UserFactory
from training.models import JobStatus, Sweep, TrainingJob
from training.services import launch_plan
from training.services.jobs import job_launch
from training.services.sweeps import sweep_launch

pytestmark = pytest.mark.django_db

SMALL = {"max_steps": 4, "batch_size": 4, "max_seq_length": 64, "rank": 4, "alpha": 8, "method": "lora"}


@pytest.fixture
def version(project, owner, fake_base_model, approve, monkeypatch, settings):
    """A project with a base model and a dataset version; the memory estimate (a subprocess) is stubbed."""
    monkeypatch.setattr(launch_plan, "known_estimate", lambda **kwargs: {})
    settings.ANNOTUNE_TRAINING_QUEUED_PER_OWNER = 3
    settings.ANNOTUNE_TRAINING_QUEUED_PER_PROJECT = 5
    settings.ANNOTUNE_SWEEPS_ACTIVE_PER_OWNER = 1
    settings.ANNOTUNE_SWEEPS_ACTIVE_PER_PROJECT = 2
    project.base_model = fake_base_model
    project.save()
    approve(project, owner, 8)
    return version_create(project=project, user=owner, validation_fraction=0.25)


@pytest.fixture
def second_owner(project):
    user = UserFactory(username="otto")
    MembershipFactory(project=project, user=user, role=Role.OWNER)
    return user


def launch(project, user, version):
    return job_launch(project=project, user=user, config=SMALL, dataset_version=version)


def test_an_owners_fourth_queued_job_is_refused_with_the_count_and_what_to_do(project, owner, version, api):
    for _ in range(3):
        launch(project, owner, version)
    with pytest.raises(TooManyRequestsError) as refused:
        launch(project, owner, version)
    assert "You already have 3 training jobs waiting in the queue (at most 3 per person)" in refused.value.message
    assert "cancel the ones you no longer need" in refused.value.message
    response = api(owner).post(
        f"/api/v1/projects/{project.pk}/training-jobs/", {"config": SMALL, "dataset_version": version.pk}, format="json"
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["errors"] == {"queue": ["owner_training_queue_full"]}
    assert TrainingJob.objects.count() == 3
    # One starts running: a place in the queue is free again.
    TrainingJob.objects.filter(pk=TrainingJob.objects.order_by("pk").first().pk).update(status=JobStatus.RUNNING)
    launch(project, owner, version)
    assert TrainingJob.objects.filter(status=JobStatus.QUEUED).count() == 3


def test_the_project_queue_is_shared_by_its_owners(project, owner, second_owner, version):
    for _ in range(3):
        launch(project, owner, version)
    launch(project, second_owner, version)
    launch(project, second_owner, version)
    with pytest.raises(TooManyRequestsError) as refused:
        launch(project, second_owner, version)  # two of their own, but five in the project
    assert "This project already has 5 training jobs waiting in the queue (at most 5)" in refused.value.message
    assert TrainingJob.objects.count() == 5


def test_one_click_training_beyond_the_cap_explains_on_the_page(project, owner, version):
    for _ in range(3):
        launch(project, owner, version)
    page = Client()
    page.force_login(owner)
    response = page.post(f"/projects/{project.pk}/training/one-click/", follow=True)
    assert "You already have 3 training jobs waiting in the queue" in response.content.decode()
    assert TrainingJob.objects.count() == 3


def test_sweeps_count_per_owner_and_their_members_count_as_queued_jobs(project, owner, second_owner, version, api):
    sweep_launch(project=project, user=owner, config=SMALL, ranks=[4, 8], dataset_version=version)
    with pytest.raises(TooManyRequestsError) as refused:
        sweep_launch(project=project, user=owner, config=SMALL, ranks=[4, 8], dataset_version=version)
    assert "You already have 1 rank sweep in progress (at most 1 per person)" in refused.value.message
    # Another owner's sweep: four members are more than the three queued jobs a person may have; three fit.
    response = api(second_owner).post(
        f"/api/v1/projects/{project.pk}/sweeps/",
        {"config": SMALL, "ranks": [4, 8, 16, 32], "dataset_version": version.pk},
        format="json",
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "so these 4 jobs cannot be added" in response.json()["detail"]
    assert Sweep.objects.count() == 1
    assert TrainingJob.objects.count() == 2
    sweep_launch(project=project, user=second_owner, config=SMALL, ranks=[4, 8, 16], dataset_version=version)
    assert Sweep.objects.count() == 2
    # A sweep whose members all ended (or that was cancelled) no longer counts.
    TrainingJob.objects.filter(sweep__created_by=owner).update(status=JobStatus.SUCCEEDED)
    sweep_launch(project=project, user=owner, config=SMALL, ranks=[4, 8], dataset_version=version)
    assert Sweep.objects.count() == 3
