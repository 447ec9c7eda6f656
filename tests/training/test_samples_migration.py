"""Migration 0021 gives samples stored before the results schema its keys, so every reader takes one shape
(`results.samples`) and no code maps old keys."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from serving.models import Adapter
from training.engine import results
from training.models import BaseModel, TrainingJob

pytestmark = pytest.mark.django_db

migration = importlib.import_module("training.migrations.0021_samples_current_keys")


def apps_at_0021():
    """The historical models the migration runs with (adapters were training's then; serving's since)."""
    loader = MigrationExecutor(connection).loader
    return loader.project_state(("training", "0021_samples_current_keys"), at_end=True).apps


OLD = [
    {"messages": [{"role": "user", "content": "Old style"}], "base": "old base", "adapter": "old new"},
    {"prompt": "A plain-text prompt", "before": "b", "after": "a"},
    "not a sample",
]
CURRENT = [
    {"prompt": [{"role": "user", "content": "Where is my parcel?"}], "reference": "r", "before": "b", "after": "a"}
]


def test_old_samples_get_the_current_keys_and_current_ones_stay_as_they_are(project, owner):
    base = BaseModel.objects.create(name="tiny", source="/models/tiny")
    job = TrainingJob.objects.create(
        project=project,
        base_model=base,
        train_path="training/x/train.jsonl",
        dataset_sha256="0" * 64,
        method="lora",
        config={},
        created_by=owner,
        result={"samples": OLD, "metrics": {"global_step": 3}},
    )
    old = Adapter.objects.create(project=project, base_model=base, name="old", storage_path="a", samples=OLD)
    current = Adapter.objects.create(project=project, base_model=base, name="new", storage_path="b", samples=CURRENT)

    migration.forwards(apps_at_0021(), None)

    old.refresh_from_db()
    assert old.samples[0] == {
        "prompt": [{"role": "user", "content": "Old style"}],
        "before": "old base",
        "after": "old new",
    }
    assert old.samples[1]["prompt"] == [{"role": "user", "content": "A plain-text prompt"}]
    assert old.samples[2] == "not a sample"  # skipped on reading
    assert [s["before"] for s in results.samples(old.samples)] == ["old base", "b"]
    job.refresh_from_db()
    assert job.result["samples"] == old.samples
    assert job.result["metrics"] == {"global_step": 3}
    current.refresh_from_db()
    assert current.samples == CURRENT
    assert results.samples(current.samples) == CURRENT


def test_the_reader_takes_only_the_current_keys():
    assert results.samples([{"messages": [{"role": "user", "content": "x"}], "base": "b"}]) == [
        {"prompt": [], "reference": "", "before": "", "after": ""}
    ]
    assert results.samples("not a list") == []
