"""DPO through a real Celery worker: an SFT job trains a QLoRA adapter, then a DPO job trains it further (on the
4-bit base the adapter was trained on) on the preference pairs stored with the dataset version and attaches a new
adapter with preference accuracy, evaluated on the dataset version as an SFT job is: per-example scores, validation
loss base vs adapter, samples, the behavioural checks and the forgetting check, on the same pages."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from evaluation.models import ExampleScore
from serving.models import Adapter
from tests.workers import celery_worker, wait_for
from training.models import BaseModel, JobStatus, TrainingJob

from .conftest import TINY_CONFIG
from .test_worker import WORKER_ENV, finished, launch

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def pairs(n: int) -> str:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Question {i}?"}],
            "chosen": [{"role": "assistant", "content": f"Answer {i}."}],
            "rejected": [{"role": "assistant", "content": f"No idea about {i}, sorry, truly none."}],
            **({"split": "validation"} if i % 4 == 0 else {}),
        }
        for i in range(n)
    ]
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_dpo_job_trains_the_sft_adapter_through_the_worker(api, project, owner, approve, tiny_models, training_folders):
    project.base_model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 24)
    client = api(owner)
    with celery_worker("training", env={**WORKER_ENV, **training_folders}) as worker:
        sft = launch(client, project, preset="quick", config={**TINY_CONFIG, "method": "qlora"})
        job = wait_for(lambda: finished(sft), 300, message="the SFT job to finish")
        assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail)
        parent = Adapter.objects.get(job_id=sft)
        folder = job.dataset_version.train_path.rsplit("/", 1)[0]
        default_storage.save(f"{folder}/preferences.jsonl", ContentFile(pairs(8).encode()))

        dpo = launch(client, project, preset="quick", config={**TINY_CONFIG, "method": "dpo"}, parent_adapter=parent.pk)
        job = wait_for(lambda: finished(dpo), 300, message="the DPO job to finish")
        log = Path(worker.log_path).read_text()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail, log[-3000:])
    assert job.method == "dpo"
    assert job.step == 4
    metrics = job.result["metrics"]
    assert (metrics["train_examples"], metrics["validation_examples"]) == (6, 2)
    assert math.isfinite(metrics["final_loss"])
    assert metrics["preference_accuracy_before"] is not None
    assert metrics["preference_accuracy_after"] is not None

    adapter = Adapter.objects.get(job_id=dpo)
    assert adapter.method == "dpo"
    assert adapter.lineage["parent_adapter"]["id"] == parent.pk
    assert adapter.metrics["preference_accuracy_after"] == metrics["preference_accuracy_after"]
    root = Path(training_folders["ANNOTUNE_STORAGE_ROOT"]) / adapter.storage_path
    assert (root / "adapter_model.safetensors").is_file()
    assert json.loads((root / "adapter_config.json").read_text())["r"] == TINY_CONFIG["rank"]
    assert TrainingJob.objects.get(pk=dpo).parent_adapter_id == parent.pk

    # Evaluated on the dataset version's conversations, split as the SFT job split them.
    version = job.dataset_version
    assert metrics["val_tokens"] > 0
    for key in ("val_loss_base", "val_loss_adapter", "val_perplexity_base", "val_perplexity_adapter"):
        assert math.isfinite(metrics[key])
        assert adapter.metrics[key] == metrics[key]
    sft_metrics = Adapter.objects.get(job_id=sft).metrics
    assert metrics["val_loss_base"] == pytest.approx(sft_metrics["val_loss_base"], rel=1e-3)  # the same base, split
    assert job.result["samples"] == adapter.samples
    assert adapter.samples
    assert {"prompt", "reference", "before", "after"} <= set(adapter.samples[0])
    assert adapter.behaviour["checks"] is not None
    assert adapter.behaviour["validation_available"] == version.validation_count
    assert any(p["split"] == "control" for p in adapter.behaviour["prompts"])
    assert adapter.lineage["forgetting"]["control_examples"] > 0
    rows = ExampleScore.objects.filter(job_id=dpo)
    assert rows.count() == 24  # one per example of the version
    assert rows.filter(split="validation").count() == version.validation_count
    assert not rows.filter(adapter_loss__isnull=True).exists()
    assert set(rows.values_list("example_id", flat=True)) == set(
        ExampleScore.objects.filter(job_id=sft).values_list("example_id", flat=True)
    )

    pages = Client()
    pages.force_login(owner)
    page = pages.get(f"/projects/{project.pk}/training/{dpo}/").content.decode()
    assert "Validation loss, adapter" in page
    assert "Preference accuracy, after" in page
    adapter_page = pages.get(reverse("adapter-detail", args=[project.pk, adapter.pk])).content.decode()
    assert adapter.samples[0]["reference"] in adapter_page
    found = pages.get(reverse("training-found", args=[project.pk, dpo]))
    assert found.status_code == 200
    assert "has no per-example scores" not in found.content.decode()
    assert 'id="forgetting"' in found.content.decode()
