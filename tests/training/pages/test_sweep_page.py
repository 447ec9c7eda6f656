"""The rank sweep page: members in mixed end states, the charts' data, the recommendation; cancel."""

from __future__ import annotations

import json
import re

import pytest

from annotation.models import ExampleStatus
from curated_data.services.versions import version_create
from serving.models import Adapter
from tests.factories import ExampleFactory
from training.models import JobStatus, Sweep, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def sweep(project, owner, base_model, storage):
    for _ in range(8):
        ExampleFactory(project=project, author=owner, status=ExampleStatus.APPROVED)
    version = version_create(project=project, user=owner, validation_fraction=0.25)
    return Sweep.objects.create(
        project=project,
        created_by=owner,
        dataset_version=version,
        base_model=base_model,
        base_config={"seed": 42, "rank": 16},
        ranks=[4, 8, 16, 32],
    )


def chart(html: str) -> dict:
    found = re.search(r'<script id="sweep-chart-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, "no chart data block"
    return json.loads(found.group(1))


def test_page_with_members_in_mixed_end_states(pages, project, sweep, make_job, owner):
    def member(rank, status, metrics=None, size=None, **fields):
        config = {"rank": rank, "alpha": 2 * rank, "target_modules": "attention"}
        job = make_job(sweep=sweep, status=status, config=config, result={"metrics": metrics or {}}, **fields)
        if size:
            Adapter.objects.create(project=project, job=job, base_model=job.base_model, name=f"r{rank}",
                                   storage_path="x", size_bytes=size, metrics=metrics)  # fmt: skip
        return job

    figures = {"final_loss": 0.9, "train_runtime_seconds": 12.0}
    member(4, JobStatus.FAILED, error="Out of memory while training: lower batch_size", error_code="out_of_memory")
    r8 = member(8, JobStatus.SUCCEEDED, {"val_loss_adapter": 1.010, **figures}, size=2 * 1048576)
    member(16, JobStatus.SUCCEEDED, {"val_loss_adapter": 1.000, **figures}, size=4 * 1048576)
    member(32, JobStatus.CANCELLED)
    response = pages.get(f"/projects/{project.pk}/training/sweeps/{sweep.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Partly succeeded" in html
    assert "Recommended: rank 8" in html
    assert "Rank 8 is the smallest rank whose validation loss (1.0100) is within 2 % of the best" in html
    assert "Rank 4 failed and is left out (Out of memory while training: lower batch_size)." in html
    assert "Rank 32 was cancelled and is left out." in html
    assert "Cancel sweep" not in html  # nothing left to cancel
    assert f'href="/projects/{project.pk}/training/{r8.pk}/"' in html
    assert 'src="/static/js/sweep_charts.js"' in html
    assert "<script>" not in html
    data = chart(html)
    assert data["ranks"] == ["4", "8", "16", "32"]
    (line,) = data["series"]
    assert line["val_loss"] == [None, 1.01, 1.0, None]
    assert line["gap"] == [None, pytest.approx(0.11), pytest.approx(0.1), None]
    assert line["size_mib"] == [None, 2.0, 4.0, None]
    assert line["runtime_seconds"] == [None, 12.0, 12.0, None]
    listing = pages.get(f"/projects/{project.pk}/training/").content.decode()
    assert f'href="/projects/{project.pk}/training/sweeps/{sweep.pk}/"' in listing


def test_cancel_from_the_page(pages, project, sweep, make_job):
    queued = make_job(sweep=sweep)
    behind = make_job(sweep=sweep)
    html = pages.get(f"/projects/{project.pk}/training/sweeps/{sweep.pk}/").content.decode()
    # Each queued member says its place in line.
    assert '<small class="muted sweep-waiting">next in line</small>' in html
    assert '<small class="muted sweep-waiting">1 ahead on its queue</small>' in html
    assert behind.pk > queued.pk
    assert "Cancel sweep" in html
    assert 'hx-trigger="every 5s"' in html
    response = pages.post(f"/projects/{project.pk}/training/sweeps/{sweep.pk}/cancel/")
    assert response.status_code == 302
    assert TrainingJob.objects.get(pk=queued.pk).status == JobStatus.CANCELLED
    assert "Cancelled" in pages.get(response["Location"]).content.decode()


def test_members_that_really_trained(pages, project, sweep, make_job, store, engine_runs):
    """Members ended by the worker's own writer from real tiny engine runs: one succeeded, one failed."""
    ok = store(make_job(sweep=sweep), engine_runs["succeeded"])
    failed = store(make_job(sweep=sweep, config={**ok.config, "rank": 8}), engine_runs["invalid_config"])
    assert (ok.status, failed.status) == (JobStatus.SUCCEEDED, JobStatus.FAILED)
    html = pages.get(f"/projects/{project.pk}/training/sweeps/{sweep.pk}/").content.decode()
    assert "Recommended: rank 4" in html
    assert "Rank 4 is the only member with a validation loss" in html
    assert "Rank 8 failed and is left out (Invalid training configuration" in html
    (line,) = chart(html)["series"]
    assert line["val_loss"][0] is not None
    assert line["val_loss"][1] is None
    assert line["size_mib"][0] > 0
    assert line["runtime_seconds"][0] > 0


def test_the_polled_panel_drops_cancel_once_the_sweep_is_over(pages, project, sweep, make_job):
    """The page stays open while the sweep runs; the panel it polls carries the Cancel button, so the button
    goes when the last member ends (it stayed in the page head before, after the sweep had succeeded)."""
    job = make_job(sweep=sweep)
    url = f"/projects/{project.pk}/training/sweeps/{sweep.pk}/"
    panel = pages.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="sweep-cancel"' in panel
    assert "data-confirm=" in panel
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    panel = pages.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Cancel sweep" not in panel
    assert "hx-trigger" not in panel  # nothing left to poll for
    assert "Succeeded" in panel


def test_shared_configuration_is_a_labelled_table(pages, project, sweep):
    from tests.page_words import snake_codes

    sweep.base_config = {"method": "qlora", "rank": 16, "alpha": 32, "target_modules": "all-linear",
                         "learning_rate": 0.0002, "packing": False, "gradient_accumulation_steps": 2,
                         "max_steps": -1, "eval_steps": 0, "seed": 42}  # fmt: skip
    sweep.save(update_fields=["base_config"])
    html = pages.get(f"/projects/{project.pk}/training/sweeps/{sweep.pk}/").content.decode()
    rows = {
        "method": ("Method", "QLoRA (4-bit base)"),
        "rank": ("LoRA rank r", "varies per member (see the table)"),
        "target_modules": ("Target modules", "all linear layers"),
        "learning_rate": ("Learning rate", "0.0002"),
        "packing": ("Packing", "no"),
        "gradient_accumulation_steps": ("Gradient accumulation steps", "2"),
        "max_steps": ("Max steps", "no limit (trains for the epochs)"),
        "eval_steps": ("Evaluate every (steps)", "only at the end"),
        "seed": ("Seed", "42"),
    }
    for key, (label, value) in rows.items():
        assert f'<th scope="row" title="{key}">{label}</th><td>{value}</td>' in html, key
    assert "{&#x27;" not in html  # no Python dict on the page any more
    assert snake_codes(html) == []
