"""Issue #23 on the training side: an adapter's default name says what differs from its siblings, and its
configuration reads as labelled rows in words (the keys stay in tooltips)."""

from __future__ import annotations

import pytest

from serving.models import Adapter
from serving.selectors.adapters import adapter_compare, adapter_config_view
from tests.evaluation.found_helpers import make_job
from tests.page_words import snake_codes
from training.selectors.configuration import labelled_rows
from training.services.execution import default_adapter_name

pytestmark = pytest.mark.django_db


def test_default_names_tell_method_rank_and_dataset_version_apart(project, owner):
    qlora = make_job(project, owner, method="qlora", config={"method": "qlora", "rank": 16})
    lora = make_job(project, owner, method="lora", config={"method": "lora", "rank": 64})
    assert default_adapter_name(qlora) == f"QLoRA r16 · job {qlora.pk}"
    assert default_adapter_name(lora) == f"LoRA r64 · job {lora.pk}"


def test_default_name_names_the_dataset_version(project, owner):
    from curated_data.models import DatasetVersion

    version = DatasetVersion.objects.create(
        project=project,
        number=3,
        sha256="a" * 64,
        example_count=2,
        train_count=1,
        validation_count=1,
        split_seed=1,
        validation_fraction=0.5,
        all_path="x/all.jsonl",
        train_path="x/train.jsonl",
        validation_path="x/validation.jsonl",
        manifest_path="x/manifest.jsonl",
        train_sha256="b" * 64,
        validation_sha256="c" * 64,
        guideline_sha256="d" * 64,
        created_by=owner,
    )
    job = make_job(project, owner, method="dora", config={"rank": 8}, dataset_version=version)
    assert default_adapter_name(job) == f"DoRA r8 · v3 · job {job.pk}"


def adapter(project, job, **config) -> Adapter:
    return Adapter.objects.create(
        project=project,
        job=job,
        base_model=job.base_model,
        name=default_adapter_name(job),
        method=job.method,
        storage_path=f"adapters/{job.pk}",
        lineage={
            "config": {"method": job.method, "learning_rate": 0.001, "max_seq_length": 1024, **config},
            "dataset_sha256": "ab" * 32,
            "seed": 7,
        },
    )


def test_configuration_rows_are_words_with_the_key_kept(project, owner):
    job = make_job(project, owner, method="qlora", config={"method": "qlora", "rank": 16})
    rows = labelled_rows(adapter_config_view(adapter(project, job, rank=16, target_modules="attention")))
    by_key = {row.key: row for row in rows}
    assert by_key["method"].value == "QLoRA (4-bit base)"
    assert by_key["max_seq_length"].label == "Max tokens per example"
    assert by_key["target_modules"].value == "attention projections (q, k, v, o)"
    assert by_key["dataset_sha256"].label == "Dataset fingerprint (SHA-256)"
    assert by_key["base_model"].label == "Base model"
    assert all("_" not in row.label for row in rows), [row.label for row in rows]


def test_adapter_compare_labels_its_rows(project, owner):
    a = adapter(project, make_job(project, owner, method="lora", config={"rank": 16}), rank=16)
    b = adapter(project, make_job(project, owner, method="qlora", config={"rank": 64}), rank=64)
    rows = {row["key"]: row for row in adapter_compare(a, b)["config"]}
    assert rows["method"]["label"] == "Method"
    assert (rows["method"]["a"], rows["method"]["b"]) == ("LoRA", "QLoRA (4-bit base)")
    assert rows["rank"]["differs"]
    assert not rows["seed"]["differs"]


def test_the_pages_show_no_config_keys(client, project, owner):
    job = make_job(project, owner, method="lora", config={"method": "lora", "rank": 16, "max_seq_length": 1024})
    shown = adapter(project, job, rank=16)
    client.force_login(owner)
    for url in (f"/projects/{project.pk}/adapters/{shown.pk}/", f"/projects/{project.pk}/training/{job.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "Max tokens per example" in html, url
        assert snake_codes(html) == [], url
