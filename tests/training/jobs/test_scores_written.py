"""The worker writes per-example scores (one row per example, mapped to the right example) and the
forgetting report, through the real worker function and a real engine run in a child process."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage

from annotation.models import Example
from curated_data.services.versions import version_create
from evaluation.models import ExampleScore
from serving.models import Adapter
from training.models import BaseModel, JobStatus
from training.services import execution
from training.services.jobs import job_launch

from .conftest import TINY_CONFIG, estimated

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def lines(path: str) -> list[dict]:
    with default_storage.open(path, "rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def check_scores(job, train_lines, validation_lines):
    """Each row's example holds the messages of the file line its score came from."""
    rows = list(ExampleScore.objects.filter(job=job).select_related("example"))
    assert len(rows) == len(train_lines) + len(validation_lines)
    by_messages = {json.dumps(r.example.messages, sort_keys=True): r for r in rows}
    assert len(by_messages) == len(rows)
    for split, file_lines in (("train", train_lines), ("validation", validation_lines)):
        for line in file_lines:
            row = by_messages[json.dumps(line["messages"], sort_keys=True)]
            assert row.split == split
            assert row.adapter_loss is not None
            assert row.base_loss is not None
            assert row.loss_drop == pytest.approx(row.base_loss - row.adapter_loss)
            assert row.tokens > 0
            assert row.category == row.example.category
            assert row.author_id == row.example.author_id
    return rows


def test_a_job_on_the_version_its_launch_made_writes_one_score_per_example(
    project, owner, approve, tiny_models, training_folders
):
    project.base_model = BaseModel.objects.create(name="tiny", source=tiny_models("llama"))
    project.general_category = "general"
    project.save()
    examples = approve(project, owner, 12)
    Example.objects.filter(pk__in=[e.pk for e in examples[:6]]).update(category="general")
    estimated(project.base_model, preset="quick", config=TINY_CONFIG)
    job = job_launch(project=project, user=owner, preset="quick", config=TINY_CONFIG)
    assert job.dataset_version is not None  # the project had none: the launch made version 1

    assert execution.job_execute(job.pk) == "succeeded"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert "example_scores" not in job.result
    check_scores(job, lines(job.train_path), lines(job.validation_path))
    forgetting = job.result["forgetting"]
    assert forgetting["source"] == "builtin"
    assert forgetting["control_examples"] >= 64
    assert forgetting["control_ratio"] > 0
    assert len(forgetting["samples"]) == 3
    adapter = Adapter.objects.get(job=job)
    assert adapter.lineage["forgetting"] == forgetting
    assert job.result["metrics"]["scoring_seconds"] > 0


def test_version_job_maps_scores_through_the_manifest_and_uses_the_projects_control_set(
    project, owner, approve, tiny_models, training_folders
):
    from django.core.files.base import ContentFile

    from training.engine.control_set import control_conversations

    project.base_model = BaseModel.objects.create(name="tiny", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 12)
    version = version_create(project=project, user=owner, validation_fraction=0.25)
    own = "".join(json.dumps({"messages": m}) + "\n" for m in control_conversations(20, seed=3))
    default_storage.save(execution.CONTROL_SET_PATH.format(project_id=project.pk), ContentFile(own.encode()))
    estimated(project.base_model, config=TINY_CONFIG)
    job = job_launch(project=project, user=owner, config=TINY_CONFIG, dataset_version=version)

    assert execution.job_execute(job.pk) == "succeeded"
    job.refresh_from_db()
    rows = check_scores(job, lines(version.train_path), lines(version.validation_path))
    assert {r.split for r in rows} == {"train", "validation"}
    assert job.result["forgetting"]["source"] == "project"
    assert job.result["forgetting"]["control_examples"] == 20
