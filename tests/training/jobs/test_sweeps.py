"""Rank sweeps: the launch (one job per rank, alpha per rule), cancel, the recommendation and the API."""

from __future__ import annotations

import pytest

from annotune.errors import ApplicationError
from curated_data.services.versions import version_create
from training.engine.config import PRESETS
from training.models import JobStatus, Sweep, TrainingJob
from training.selectors.sweeps import MemberPoint, recommend, sweep_status
from training.services import launch_plan
from training.services.sweeps import sweep_cancel, sweep_launch

# -- the recommendation (pure) ----------------------------------------------------------------------


def point(job_id, rank, val_loss, status=JobStatus.SUCCEEDED, *, targets="attention", size=None, error=""):
    return MemberPoint(
        job_id=job_id,
        rank=rank,
        alpha=2 * rank,
        targets=targets,
        status=status,
        val_loss=val_loss,
        train_loss=None if val_loss is None else val_loss - 0.1,
        size_bytes=size if size is not None else rank * 1000,
        error=error,
    )


def test_smallest_rank_within_the_tolerance_of_the_best_is_recommended():
    points = [point(1, 4, 1.100), point(2, 8, 1.019), point(3, 16, 1.000), point(4, 32, 1.005)]
    chosen = recommend(points, 0.02)
    assert (chosen.job_id, chosen.rank) == (2, 8)
    assert chosen.reason.startswith("Rank 8 is the smallest rank whose validation loss (1.0190) is within 2 % ")
    assert "best (1.0000 at rank 16; 1.9 % higher), with an adapter 2.0× smaller." in chosen.reason
    assert chosen.reason.endswith(".")
    assert ". " not in chosen.reason
    assert chosen.notes == []


def test_just_outside_the_tolerance_is_not_enough():
    chosen = recommend([point(1, 4, 1.0201), point(2, 16, 1.0)], 0.02)
    assert chosen.rank == 16
    assert chosen.reason == (
        "Rank 16 has the lowest validation loss (1.0000) and no smaller rank comes within 2 % of it."
    )


def test_ties_go_to_the_smaller_rank_then_the_smaller_adapter():
    assert recommend([point(1, 16, 1.0), point(2, 8, 1.0)], 0.0).rank == 8
    both = [
        point(1, 8, 1.0, targets="all-linear", size=9000),
        point(2, 8, 1.0, targets="attention", size=4000),
        point(3, 16, 0.99, targets="attention"),
    ]
    chosen = recommend(both, 0.02, with_targets=True)
    assert (chosen.job_id, chosen.targets) == (2, "attention")
    assert chosen.reason.startswith("Rank 8 (attention) is the smallest rank")


def test_failed_cancelled_and_running_members_are_left_out_with_a_note():
    points = [
        point(1, 4, None, JobStatus.FAILED, error="Out of memory while training\ntraceback"),
        point(2, 8, None, JobStatus.CANCELLED),
        point(3, 16, 1.0),
        point(4, 32, None, JobStatus.RUNNING),
    ]
    chosen = recommend(points, 0.02)
    assert chosen.rank == 16
    assert chosen.reason == "Rank 16 is the only member with a validation loss (1.0000), so it is the one to use."
    assert chosen.notes == [
        "Rank 4 failed and is left out (Out of memory while training).",
        "Rank 8 was cancelled and is left out.",
        "Rank 32 is still running; the recommendation may change when it ends.",
    ]


def test_nothing_to_recommend_without_a_validation_loss():
    chosen = recommend([point(1, 4, None, JobStatus.FAILED)], 0.02)
    assert chosen.job_id is None
    assert chosen.rank is None
    assert "no rank to recommend" in chosen.reason


def test_status_is_derived_from_the_members():
    assert sweep_status(["queued", "queued"]) == "queued"
    assert sweep_status(["succeeded", "queued"]) == "running"
    assert sweep_status(["succeeded", "succeeded"]) == "succeeded"
    assert sweep_status(["succeeded", "failed"]) == "partial"
    assert sweep_status(["failed", "cancelled"]) == "failed"
    assert sweep_status(["cancelled", "cancelled"]) == "cancelled"


# -- launch and cancel ------------------------------------------------------------------------------


@pytest.fixture
def version(db, project, owner, fake_base_model, approve, monkeypatch):
    """A project with a base model and a dataset version; the memory estimate (a subprocess) is stubbed."""
    monkeypatch.setattr(launch_plan, "known_estimate", lambda **kwargs: {})
    project.base_model = fake_base_model
    project.save()
    approve(project, owner, 8)
    return version_create(project=project, user=owner, validation_fraction=0.25)


def members(sweep) -> list[TrainingJob]:
    return list(sweep.jobs.order_by("id"))


@pytest.mark.django_db
def test_launch_creates_one_job_per_rank_with_one_version_and_seed(
    project, owner, version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        sweep = sweep_launch(project=project, user=owner, dataset_version=version, preset="quick", config={"seed": 7})
    jobs = members(sweep)
    assert [(j.config["rank"], j.config["alpha"]) for j in jobs] == [(4, 8), (8, 16), (16, 32), (32, 64)]
    assert {j.dataset_version_id for j in jobs} == {version.pk}
    assert {j.config["seed"] for j in jobs} == {7}
    assert {j.config["learning_rate"] for j in jobs} == {PRESETS["quick"]["learning_rate"]}  # shared
    assert {j.status for j in jobs} == {JobStatus.QUEUED}
    assert len(enqueued) == 4  # each member on the training queue once committed
    assert sweep.base_config["seed"] == 7
    assert sweep.ranks == [4, 8, 16, 32]


@pytest.mark.django_db
def test_rslora_rule_and_the_targets_axis(project, owner, version):
    sweep = sweep_launch(
        project=project, user=owner, dataset_version=version, ranks=[16, 8], alpha_rule="rslora", axis="targets"
    )
    got = [
        (j.config["target_modules"], j.config["rank"], j.config["alpha"], j.config["use_rslora"])
        for j in members(sweep)
    ]
    assert got == [
        ("attention", 8, 32, True),
        ("attention", 16, 32, True),
        ("all-linear", 8, 32, True),
        ("all-linear", 16, 32, True),
    ]


@pytest.mark.django_db
def test_a_refused_member_refuses_the_whole_sweep(project, owner, version, monkeypatch):
    def refuse(*, base_model, config):
        if config["rank"] == 32:
            raise ApplicationError("Too big.", {"config": ["Too big."]})
        return {}

    monkeypatch.setattr(launch_plan, "known_estimate", refuse)
    with pytest.raises(ApplicationError, match="rank 32: Too big"):
        sweep_launch(project=project, user=owner, dataset_version=version)
    assert not Sweep.objects.exists()
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_ranks_are_checked(project, owner, version):
    with pytest.raises(ApplicationError, match="at least two"):
        sweep_launch(project=project, user=owner, dataset_version=version, ranks=[8, 8])


@pytest.mark.django_db
def test_cancel_cancels_queued_and_running_members_only(project, owner, version):
    sweep = sweep_launch(project=project, user=owner, dataset_version=version)
    first, second, third, _ = members(sweep)
    TrainingJob.objects.filter(pk=first.pk).update(status=JobStatus.RUNNING)
    TrainingJob.objects.filter(pk=second.pk).update(status=JobStatus.SUCCEEDED)
    sweep_cancel(sweep=sweep, user=owner)
    after = {j.pk: j for j in members(sweep)}
    assert after[first.pk].status == JobStatus.RUNNING
    assert after[first.pk].cancel_requested
    assert after[second.pk].status == JobStatus.SUCCEEDED
    assert not after[second.pk].cancel_requested
    assert after[third.pk].status == JobStatus.CANCELLED
    assert Sweep.objects.get(pk=sweep.pk).cancel_requested
    TrainingJob.objects.filter(pk=first.pk).update(status=JobStatus.CANCELLED)
    with pytest.raises(ApplicationError, match="already finished"):
        sweep_cancel(sweep=sweep, user=owner)


@pytest.mark.django_db
def test_only_owners_launch(project, annotator, version):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        sweep_launch(project=project, user=annotator, dataset_version=version)


# -- API --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_launch_get_and_cancel(api, project, owner, reviewer, version):
    client = api(owner)
    url = f"/api/v1/projects/{project.pk}/sweeps/"
    created = client.post(url, {"ranks": [8, 4], "tolerance": 0.05, "dataset_version": version.pk}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "queued"
    assert body["ranks"] == [4, 8]
    assert [(m["rank"], m["alpha"], m["status"]) for m in body["members"]] == [(4, 8, "queued"), (8, 16, "queued")]
    assert body["recommendation"]["rank"] is None
    assert len(body["recommendation"]["notes"]) == 2
    job_id = body["members"][0]["job"]
    assert client.get(f"/api/v1/projects/{project.pk}/training-jobs/{job_id}/").json()["sweep"] == body["id"]

    TrainingJob.objects.filter(pk=job_id).update(
        status=JobStatus.SUCCEEDED, result={"metrics": {"val_loss_adapter": 1.5, "final_loss": 1.2}}
    )
    got = api(reviewer).get(f"{url}{body['id']}/").json()  # members of the project may read it
    assert got["recommendation"]["rank"] == 4
    assert got["status"] == "running"
    assert got["members"][0]["gap"] == pytest.approx(0.3)
    assert api(reviewer).post(f"{url}{body['id']}/cancel/", {}, format="json").status_code == 403
    cancelled = client.post(f"{url}{body['id']}/cancel/", {}, format="json").json()
    assert cancelled["status"] == "partial"
    assert cancelled["cancel_requested"] is True
    assert client.post(url, {"ranks": [4], "rank": 3}, format="json").status_code == 400


@pytest.mark.django_db
def test_compare_ranks_from_the_training_form(project, owner, version):
    from django.test import Client

    browser = Client()
    browser.force_login(owner)
    form = browser.get(f"/projects/{project.pk}/training/new/").content.decode()
    assert 'name="compare"' in form
    assert 'value="4, 8, 16, 32"' in form
    body = {"dataset": "1", "preset": "quick", "cfg_seed": "5", "sweep-ranks": "4, 8", "sweep-alpha_rule": "equal",
            "sweep-tolerance_percent": "3", "compare": "1"}  # fmt: skip
    response = browser.post(f"/projects/{project.pk}/training/new/", body)
    sweep = Sweep.objects.get()
    assert response["Location"] == f"/projects/{project.pk}/training/sweeps/{sweep.pk}/"
    assert [(j.config["rank"], j.config["alpha"], j.config["seed"]) for j in members(sweep)] == [(4, 4, 5), (8, 8, 5)]
    assert sweep.tolerance == pytest.approx(0.03)
    refused = browser.post(f"/projects/{project.pk}/training/new/", {**body, "sweep-ranks": "4, x"})
    assert refused.status_code == 400
    assert "Ranks are whole numbers" in refused.content.decode()
