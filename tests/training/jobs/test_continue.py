"""Continue training: a job that starts from an adapter keeps its shape, records its parent, and the
adapter pages show the chain."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from annotune.errors import ApplicationError
from curated_data.services.versions import version_create
from serving.models import Adapter
from training.engine.config import PRESETS
from training.models import JobStatus, TrainingJob
from training.services import launch_plan
from training.services.configs import resolve_config
from training.services.continuation import parent_adapter_dir, parent_lineage
from training.services.jobs import job_launch

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(project, owner, fake_base_model, approve, monkeypatch):
    """Two dataset versions and an adapter (rank 8, all-linear) trained on version 2 by a finished job."""
    monkeypatch.setattr(launch_plan, "known_estimate", lambda **kwargs: {})
    project.base_model = fake_base_model
    project.save()
    approve(project, owner, 8)
    v1 = version_create(project=project, user=owner, validation_fraction=0.25)
    approve(project, owner, 4)
    v2 = version_create(project=project, user=owner, validation_fraction=0.25)
    config = resolve_config(
        preset="quick", config={"method": "qlora", "rank": 8, "alpha": 16, "target_modules": "all-linear"}
    )
    job = TrainingJob.objects.create(
        project=project,
        base_model=fake_base_model,
        dataset_version=v2,
        train_path=v2.train_path,
        dataset_sha256=v2.sha256,
        method=config["method"],
        config=config,
        status=JobStatus.SUCCEEDED,
        created_by=owner,
    )
    default_storage.save("adapters/p/job-1/adapter_config.json", ContentFile(b"{}"))
    default_storage.save("adapters/p/job-1/adapter_model.safetensors", ContentFile(b"weights"))
    parent = Adapter.objects.create(
        project=project,
        job=job,
        base_model=fake_base_model,
        name="first",
        method=config["method"],
        storage_path="adapters/p/job-1",
        lineage={"config": config, "dataset_version": {"id": v2.pk, "number": 2}, "dataset_sha256": v2.sha256},
        created_by=owner,
    )
    return {"v1": v1, "v2": v2, "parent": parent}


def test_launch_takes_the_parents_shape_and_records_it(project, owner, setup):
    job = job_launch(
        project=project, user=owner, preset="balanced", dataset_version=setup["v2"], parent_adapter=setup["parent"]
    )
    assert job.parent_adapter == setup["parent"]
    assert (job.config["rank"], job.config["alpha"], job.config["target_modules"]) == (8, 16, "all-linear")
    assert job.config["method"] == "qlora"  # the parent's, whatever the device would pick
    assert job.config["epochs"] == PRESETS["balanced"]["epochs"]


def test_changing_the_shape_or_going_back_a_version_is_refused(project, owner, setup):
    with pytest.raises(ApplicationError) as caught:
        job_launch(
            project=project,
            user=owner,
            config={"rank": 16},
            dataset_version=setup["v2"],
            parent_adapter=setup["parent"],
        )
    assert caught.value.extra == {"rank": ["must stay 8, as in the adapter training continues from"]}
    with pytest.raises(ApplicationError, match="version 2: continue it on that version or a newer one"):
        job_launch(project=project, user=owner, dataset_version=setup["v1"], parent_adapter=setup["parent"])
    combined = Adapter.objects.create(
        project=project, base_model=setup["parent"].base_model, name="mix", lineage={"combination": {"method": "cat"}}
    )
    with pytest.raises(ApplicationError, match="not trained by a job"):
        job_launch(project=project, user=owner, dataset_version=setup["v2"], parent_adapter=combined)
    assert TrainingJob.objects.count() == 1


def test_worker_side_copies_the_parent_files_and_writes_the_lineage(project, owner, setup, tmp_path):
    job = job_launch(project=project, user=owner, dataset_version=setup["v2"], parent_adapter=setup["parent"])
    folder = parent_adapter_dir(job, tmp_path)
    assert sorted(p.name for p in (tmp_path / "init_adapter").iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    assert folder == str(tmp_path / "init_adapter")
    assert parent_lineage(job) == {
        "id": setup["parent"].pk,
        "name": "first",
        "job_id": setup["parent"].job_id,
        "dataset_version": {"id": setup["v2"].pk, "number": 2},
        "dataset_sha256": setup["v2"].sha256,
    }
    assert parent_adapter_dir(setup["parent"].job, tmp_path / "other") is None


def test_form_api_and_adapter_pages_show_the_chain(api, project, owner, setup):
    parent = setup["parent"]
    browser = Client()
    browser.force_login(owner)
    form = browser.get(f"/projects/{project.pk}/training/new/?continue={parent.pk}").content.decode()
    assert f'<option value="{parent.pk}" selected>first · r=8 · trained on version 2</option>' in form
    response = browser.post(
        f"/projects/{project.pk}/training/new/", {"dataset": "2", "preset": "balanced", "continue_from": str(parent.pk)}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    child_job = TrainingJob.objects.get(parent_adapter=parent)
    assert "Continues training from adapter" in browser.get(response["Location"]).content.decode()

    body = api(owner).post(
        f"/api/v1/projects/{project.pk}/training-jobs/",
        {"parent_adapter": parent.pk, "config": {"alpha": 4}},
        format="json",
    )
    assert body.status_code == 400
    assert "alpha" in body.json()["errors"]

    child_job.status = JobStatus.SUCCEEDED
    child_job.save()
    child = Adapter.objects.create(
        project=project, job=child_job, base_model=parent.base_model, name="second", storage_path="x",
        lineage={"config": child_job.config, "parent_adapter": parent_lineage(child_job)},
    )  # fmt: skip
    grandchild_job = job_launch(project=project, user=owner, dataset_version=setup["v2"], parent_adapter=child)
    Adapter.objects.create(
        project=project, job=grandchild_job, base_model=parent.base_model, name="third", storage_path="y"
    )
    listing = browser.get(f"/projects/{project.pk}/adapters/").content.decode()
    assert "continued from: " in listing
    link = f'<a href="/projects/{project.pk}/adapters/{{}}/">{{}}</a>'
    assert f"{link.format(parent.pk, 'first')} → {link.format(child.pk, 'second')} → this" in listing
    detail = browser.get(f"/projects/{project.pk}/adapters/{child.pk}/").content.decode()
    assert "Continued from" in detail
    assert "first (adapter" in detail
    assert f"/training/new/?continue={child.pk}" in detail  # the "Continue training" button
