"""Launching DPO: it needs an adapter to continue from and the project's preference pairs; the pairs are
written into the job's folder for the worker."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotune.errors import ApplicationError
from curated_data.services.versions import version_create
from serving.models import Adapter
from training.models import JobStatus, TrainingJob
from training.services import launch_plan, preference_data
from training.services.configs import resolve_config
from training.services.jobs import job_launch

pytestmark = pytest.mark.django_db

PAIR = {
    "prompt": [{"role": "user", "content": "Colour of the sky?"}],
    "chosen": [{"role": "assistant", "content": "Blue."}],
    "rejected": [{"role": "assistant", "content": "Who knows, really."}],
}


@pytest.fixture
def setup(project, owner, fake_base_model, approve, monkeypatch):
    """A dataset version and an SFT adapter (LoRA rank 8) trained on it."""
    monkeypatch.setattr(launch_plan, "known_estimate", lambda **kwargs: {})
    project.base_model = fake_base_model
    project.save()
    approve(project, owner, 8)
    version = version_create(project=project, user=owner, validation_fraction=0.25)
    config = resolve_config(preset="quick", config={"method": "lora", "rank": 8, "alpha": 16})
    job = TrainingJob.objects.create(
        project=project,
        base_model=fake_base_model,
        dataset_version=version,
        train_path=version.train_path,
        dataset_sha256=version.sha256,
        method="lora",
        config=config,
        status=JobStatus.SUCCEEDED,
        created_by=owner,
    )
    parent = Adapter.objects.create(
        project=project,
        job=job,
        base_model=fake_base_model,
        name="sft",
        method="lora",
        storage_path="adapters/p/job-1",
        lineage={"config": config, "dataset_version": {"id": version.pk, "number": 1}},
        created_by=owner,
    )
    return {"version": version, "parent": parent}


def store_pairs(version, lines: list[str]) -> None:
    folder = version.train_path.rsplit("/", 1)[0]
    default_storage.save(f"{folder}/preferences.jsonl", ContentFile("".join(lines).encode()))


def test_dpo_without_an_adapter_to_continue_from_is_refused(project, owner, setup):
    before = TrainingJob.objects.count()
    with pytest.raises(ApplicationError, match="choose the adapter to continue from") as caught:
        job_launch(project=project, user=owner, config={"method": "dpo"}, dataset_version=setup["version"])
    assert "method" in caught.value.extra
    assert TrainingJob.objects.count() == before


def test_dpo_without_preference_pairs_is_refused(project, owner, setup):
    before = TrainingJob.objects.count()
    with pytest.raises(ApplicationError, match="^This project has no preference pairs yet: correct some drafts first"):
        job_launch(
            project=project,
            user=owner,
            config={"method": "dpo"},
            dataset_version=setup["version"],
            parent_adapter=setup["parent"],
        )
    assert TrainingJob.objects.count() == before


def test_invalid_pairs_are_refused_with_the_line(project, owner, setup):
    store_pairs(setup["version"], [json.dumps(PAIR) + "\n", json.dumps({**PAIR, "chosen": []}) + "\n"])
    before = TrainingJob.objects.count()
    with pytest.raises(ApplicationError, match="pair 2: chosen must be a list with one assistant message"):
        job_launch(
            project=project,
            user=owner,
            config={"method": "dpo"},
            dataset_version=setup["version"],
            parent_adapter=setup["parent"],
        )
    assert TrainingJob.objects.count() == before


def test_dpo_launch_keeps_the_parents_shape_and_writes_the_pairs_for_the_job(project, owner, setup):
    held_out = {**PAIR, "split": "validation"}
    store_pairs(setup["version"], [json.dumps(PAIR) + "\n"] * 3 + [json.dumps(held_out) + "\n"])
    job = job_launch(
        project=project,
        user=owner,
        config={"method": "dpo", "beta": 0.2},
        dataset_version=setup["version"],
        parent_adapter=setup["parent"],
    )
    assert job.method == "dpo"
    assert job.parent_adapter == setup["parent"]
    assert (job.config["rank"], job.config["alpha"], job.config["beta"]) == (8, 16, 0.2)
    folder = preference_data.job_folder(job)
    with default_storage.open(f"{folder}/preferences.jsonl") as handle:
        train = [json.loads(line) for line in handle.read().decode().splitlines()]
    with default_storage.open(f"{folder}/preferences_validation.jsonl") as handle:
        validation = [json.loads(line) for line in handle.read().decode().splitlines()]
    assert train == [PAIR] * 3
    assert validation == [PAIR]  # the split mark is not part of the pair


def test_write_for_job_refuses_no_records(project, owner, setup):
    job = TrainingJob.objects.get(adapter=setup["parent"])
    with pytest.raises(ApplicationError, match="no preference pairs yet"):
        preference_data.write_for_job(job, [])
    assert not default_storage.exists(f"{preference_data.job_folder(job)}/preferences.jsonl")


def test_launch_form_refuses_dpo_without_an_adapter_and_says_why(client, project, owner, setup):
    client.force_login(owner)
    url = f"/projects/{project.pk}/training/new/"
    form = {"dataset": "1", "preset": "quick", "cfg_method": "dpo"}
    response = client.post(url, form)
    assert response.status_code == 400
    assert "choose the adapter to continue from" in response.content.decode()
    refused = client.post(url, {**form, "continue_from": str(setup["parent"].pk)})
    assert refused.status_code == 400
    assert "This project has no preference pairs yet: correct some drafts first" in refused.content.decode()
    assert not TrainingJob.objects.filter(method="dpo").exists()

    store_pairs(setup["version"], [json.dumps(PAIR) + "\n"] * 2)
    launched = client.post(url, {**form, "continue_from": str(setup["parent"].pk)})
    assert launched.status_code == 302
    job = TrainingJob.objects.get(method="dpo")
    assert job.parent_adapter == setup["parent"]


def test_api_refuses_dpo_without_an_adapter(api, project, owner, setup):
    url = f"/api/v1/projects/{project.pk}/training-jobs/"
    response = api(owner).post(
        url, {"config": {"method": "dpo"}, "dataset_version": setup["version"].pk}, format="json"
    )
    assert response.status_code == 400
    assert "choose the adapter to continue from" in json.dumps(response.json())
    assert not TrainingJob.objects.filter(method="dpo").exists()


def test_job_page_shows_preference_accuracy_before_and_after(client, project, owner, setup):
    job = TrainingJob.objects.get(adapter=setup["parent"])
    metrics = {"preference_accuracy_before": 0.25, "preference_accuracy_after": 0.75, "validation_examples": 4}
    TrainingJob.objects.filter(pk=job.pk).update(method="dpo", result={"metrics": metrics})
    setup["parent"].metrics = metrics
    setup["parent"].save()
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/training/{job.pk}/").content.decode()
    assert "Preference accuracy, before</dt><dd>25%" in page
    assert "Preference accuracy, after</dt><dd>75%" in page
    assert "only 4 held-out pairs: too few to judge" in page


def test_the_worker_loads_the_base_as_the_first_adapter_of_the_line_was_trained(project, owner, setup):
    """A DPO job's engine spec names how its parent's base was loaded: the parent's method, or for a DPO parent
    that of the SFT adapter its line started from (a QLoRA line stays on the 4-bit base)."""
    from training.services.continuation import parent_method

    sft = setup["parent"]
    Adapter.objects.filter(pk=sft.pk).update(method="qlora")
    row = {"project": project, "base_model": sft.base_model, "method": "dpo", "config": {}, "created_by": owner}
    first = TrainingJob.objects.create(**row, parent_adapter=sft)
    dpo_adapter = Adapter.objects.create(
        project=project, job=first, base_model=sft.base_model, name="dpo", method="dpo", created_by=owner
    )
    second = TrainingJob.objects.create(**row, parent_adapter=dpo_adapter)
    assert parent_method(TrainingJob.objects.get(pk=first.pk)) == "qlora"
    assert parent_method(TrainingJob.objects.get(pk=second.pk)) == "qlora"
    Adapter.objects.filter(pk=sft.pk).update(method="lora")
    assert parent_method(TrainingJob.objects.get(pk=second.pk)) == "lora"
    assert parent_method(TrainingJob.objects.get(adapter=sft)) is None  # no parent
