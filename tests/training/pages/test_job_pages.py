"""Job and adapter pages (and the adapter API) rendered from real engine output stored by the real writer."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.utils.html import escape

from serving.models import Adapter
from training.models import JobStatus, TrainingJob

from .conftest import FOLLOW_UP, SYSTEM, claim

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

LR = re.compile(r"learning rate (\d\.\de-\d\d|0)\b")


def job_url(job: TrainingJob, suffix: str = "") -> str:
    return f"/projects/{job.project_id}/training/{job.pk}/{suffix}"


def adapter_url(adapter: Adapter) -> str:
    return f"/projects/{adapter.project_id}/adapters/{adapter.pk}/"


def text(response) -> str:
    assert response.status_code == 200, response.content[:2000]
    return response.content.decode()


def assert_prompt_turns_escaped(html: str) -> None:
    assert escape(SYSTEM) in html
    assert escape(FOLLOW_UP) in html
    assert "<script>alert(1)" not in html
    assert "[{" not in html
    assert "&#x27;role&#x27;" not in html
    for role in ("system", "user", "assistant"):
        assert f'class="turn turn-{role}"' in html


def metric_rows(html: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))


# -- succeeded ----------------------------------------------------------------------------------------


def test_finished_job_page_shows_engine_counts_metrics_samples_and_adapter(pages, succeeded_job, adapter):
    html = text(pages.get(job_url(succeeded_job)))
    metrics = adapter.metrics
    assert (metrics["train_examples"], metrics["validation_examples"], metrics["held_out_examples"]) == (6, 2, 2)
    assert "6 training + 2 validation examples (2 held out from the 8 training examples by the engine" in html
    assert "8 train / 0 validation" in html  # the header: what the job was launched on

    rows = metric_rows(html)
    assert rows["Steps"] == "4"
    assert rows["Planned steps"] == "4"
    assert rows["Training examples"] == "6"
    assert re.fullmatch(r"\d+\.\d{4}", rows["Validation loss, adapter"])
    assert re.fullmatch(r"[\d,]+\.\d{1,2}", rows["Validation perplexity, adapter"])
    assert rows["Throughput"].endswith(" tokens/s")
    assert re.fullmatch(r"\d+(\.\d)? s", rows["Training time"])
    assert "global_step" not in html.split("<summary>Model card")[0]  # (the model card lists raw keys)

    assert "Finished: 4 steps" in html
    assert f'href="{adapter_url(adapter)}"' in html
    assert f'href="/projects/{adapter.project_id}/playground/?adapter={adapter.pk}"' in html
    assert 0 < adapter.size_bytes < 1024**2
    assert re.search(r"\(\d+(\.\d)? KiB\)", html)

    assert len(adapter.samples) == 2
    assert_prompt_turns_escaped(html)
    for sample in adapter.samples:
        assert escape(sample["reference"]) in html
        assert escape(sample["before"]).replace("\n", "<br>") in html
        assert escape(sample["after"]).replace("\n", "<br>") in html
    assert LR.search(html), re.findall(r"learning rate [^<]*", html)
    assert "hx-get" not in html  # a finished job is not polled


def test_finished_job_progress_panel_links_the_adapter_and_the_playground(pages, succeeded_job, adapter):
    html = text(pages.get(job_url(succeeded_job, "progress/"), HTTP_HX_REQUEST="true"))
    assert 'id="progress"' in html
    assert "hx-get" not in html
    assert 'data-status="succeeded"' in html
    assert f'href="{adapter_url(adapter)}"' in html
    assert "playground/?adapter=" in html
    assert metric_rows(html)["Steps"] == "4"
    assert_prompt_turns_escaped(html)


def test_flash_messages_show_once_inside_the_polled_panel(pages, succeeded_job):
    # Cancelling a finished job flashes an error and redirects to the job page.
    response = pages.post(job_url(succeeded_job, "cancel/"))
    assert response.status_code == 302
    html = text(pages.get(job_url(succeeded_job)))
    assert html.count("This job has already finished") == 1
    panel = html[html.index('<div id="progress"') :]
    assert "This job has already finished" in panel  # replaced by the next poll, not left above the page
    assert "This job has already finished" not in text(pages.get(job_url(succeeded_job)))


def test_running_job_is_polled_and_shows_formatted_live_figures(pages, make_job, engine_runs):
    job = make_job()
    reporter = claim(job)
    run = engine_runs["succeeded"]
    for event in run.events[:2]:  # start, first logged step
        reporter.on_progress(event)
    html = text(pages.get(job_url(job, "progress/"), HTTP_HX_REQUEST="true"))
    assert "hx-get" in html
    assert 'hx-trigger="every 2s"' in html
    assert "Training: step 1 of 4." in html
    assert "learning rate 2.0e-04" in html  # the first step, no warm-up
    assert re.search(r"loss \d+\.\d{4} ·", html)
    # Before the engine reports, the page shows the split of the launch only.
    running = text(pages.get(job_url(job)))
    assert "8 train / 0 validation" in running
    assert "Engine used" not in running

    points = pages.get(job_url(job, "metrics.json")).json()["points"]
    assert points == [
        {"step": 1, "loss": pytest.approx(points[0]["loss"]), "eval_loss": None, "learning_rate": pytest.approx(2e-4)}
    ]


def test_adapter_page_renders_a_real_adapter(pages, adapter):
    html = text(pages.get(adapter_url(adapter)))
    assert_prompt_turns_escaped(html)
    for sample in adapter.samples:
        assert escape(sample["before"]).replace("\n", "<br>") in html
        assert escape(sample["after"]).replace("\n", "<br>") in html
    rows = metric_rows(html)
    assert rows["Steps"] == "4"
    assert re.fullmatch(r"\d+\.\d{4}", rows["Validation loss, base"])
    assert re.search(r"· \d+(\.\d)? KiB ·", html)
    assert f'href="/projects/{adapter.project_id}/adapters/{adapter.pk}/download/"' in html
    assert f'href="/projects/{adapter.project_id}/training/{adapter.job_id}/"' in html


def test_samples_stored_by_older_versions_are_shown_once_migrated(pages, adapter):
    """Migration 0021 gives old samples the current keys (its run on a database of that time:
    tests/training/test_samples_migration.py); the page reads that one shape."""
    migration = importlib.import_module("training.migrations.0021_samples_current_keys")
    old = [
        {"messages": [{"role": "user", "content": "Old <em>style</em>"}], "base": "old base", "adapter": "old new"},
        {"prompt": "A plain-text prompt", "before": "b", "after": "a"},
        "not a sample",
    ]
    Adapter.objects.filter(pk=adapter.pk).update(samples=migration.current_samples(old))
    html = text(pages.get(adapter_url(adapter)))
    assert escape("Old <em>style</em>") in html
    assert "old base" in html
    assert "old new" in html
    assert "A plain-text prompt" in html


def test_adapter_list_shows_labelled_metrics_and_size_in_kib(pages, adapter):
    html = text(pages.get(f"/projects/{adapter.project_id}/adapters/"))
    assert re.search(r"Validation loss, adapter \d+\.\d{4}<br>", html)
    assert re.search(r"<td>\d+(\.\d)? KiB</td>", html)
    assert "<td>2</td>" in html  # samples
    assert "val_loss_adapter" not in html


def test_compare_page_labels_and_formats_metrics(pages, adapter, make_job, store, engine_runs):
    other = Adapter.objects.get(job=store(make_job(), engine_runs["resumed"]))
    response = pages.get(f"/projects/{adapter.project_id}/adapters/compare/?a={adapter.pk}&b={other.pk}")
    html = text(response)
    rows = {row["key"]: row for row in response.context["comparison"]["metrics"]}
    assert rows["global_step"]["a_text"] == "4"
    assert rows["global_step"]["b_text"] == "4"
    assert rows["resumed_from_step"]["a_text"] == "—"
    assert rows["resumed_from_step"]["b_text"] == "2"
    assert "<th>Steps</th><td>4</td><td>4</td>" in html
    assert "<th>Resumed from step</th><td>—</td><td>2</td>" in html


def test_adapter_api_returns_the_samples_schema(api, owner, adapter):
    body = api(owner).get(f"/api/v1/projects/{adapter.project_id}/adapters/{adapter.pk}/").json()
    assert body["size_bytes"] == adapter.size_bytes
    assert body["metrics"]["global_step"] == 4
    assert body["metrics"]["held_out_examples"] == 2
    sample = body["samples"][0]
    assert set(sample) == {"prompt", "reference", "before", "after"}
    assert [m["role"] for m in sample["prompt"]] == ["system", "user", "assistant", "user"]
    assert sample["prompt"][0]["content"] == SYSTEM
    job_adapter = api(owner).get(f"/api/v1/projects/{adapter.project_id}/training-jobs/{adapter.job_id}/adapter/")
    assert job_adapter.json()["samples"] == body["samples"]


# -- failed, cancelled, resumed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "message", "advice"),
    [
        ("invalid_config", "Invalid training configuration (rank:", "Fix the listed settings"),
        ("empty_dataset", "The training set is empty", "Approve more examples"),
    ],
)
def test_failed_job_says_why_and_what_to_do(pages, make_job, store, engine_runs, run, message, advice):
    job = store(make_job(), engine_runs[run])
    assert job.status == JobStatus.FAILED
    assert job.error_code == run
    for html in (text(pages.get(job_url(job))), text(pages.get(job_url(job, "progress/")))):
        assert "Failed." in html
        assert escape(message) in html
        assert f"What to do: {advice}" in html
        assert f'href="/projects/{job.project_id}/training/new/"' in html
        assert "hx-get" not in html
        assert "/adapters/" not in html.split('id="progress"')[1].split("</div>")[0]


def test_cancelled_job_says_at_which_step(pages, make_job, store, engine_runs):
    job = store(make_job(), engine_runs["cancelled"])
    assert job.status == JobStatus.CANCELLED
    assert job.result["metrics"]["global_step"] == 2
    html = text(pages.get(job_url(job)))
    assert "Cancelled at step 2 of 4." in html
    assert "What to do" not in html
    assert not Adapter.objects.filter(job=job).exists()
    assert metric_rows(html)["Steps"] == "2"
    assert "cancelled at step 2" in job.log_tail


def test_resumed_job_says_from_which_step_after_the_worker_was_lost(pages, resume_job):
    job = resume_job()
    assert job.status == JobStatus.SUCCEEDED, (job.error, job.log_tail)
    assert (job.attempts, job.resumed_from_step) == (2, 2)
    html = text(pages.get(job_url(job)))
    assert "Finished: 4 steps" in html
    assert "Resumed from step 2 after the worker was lost (attempt 2 of 3)." in html
    assert metric_rows(html)["Resumed from step"] == "2"
    assert "re-queued to resume" not in html.split('id="progress"')[1].split("<details")[0]
    adapter = Adapter.objects.get(job=job)
    assert f'href="{adapter_url(adapter)}"' in html


# -- forgetting -----------------------------------------------------------------------------------------


def test_forgetting_report_of_a_real_run_warns_on_job_adapter_and_compare_pages(
    pages, project, succeeded_job, adapter, make_job, store, engine_runs
):
    report = succeeded_job.result.get("forgetting")
    assert isinstance(report, dict)  # the real engine run wrote one
    assert report["control_examples"] > 0
    calm = text(pages.get(job_url(succeeded_job)))
    if not report["warn"]:
        assert "Forgetting warning" not in calm
    # The same report as a narrow adapter would leave it: control perplexity well above the base's.
    warned = {**report, "control_ratio": 1.6, "warn": True}
    TrainingJob.objects.filter(pk=succeeded_job.pk).update(result={**succeeded_job.result, "forgetting": warned})
    project.categories = [{"name": "general", "target_share": 0.3}, {"name": "billing", "target_share": 0.7}]
    project.general_category = "general"
    project.save()

    for html in (
        text(pages.get(job_url(succeeded_job))),
        text(pages.get(job_url(succeeded_job, "progress/"), HTTP_HX_REQUEST="true")),
        text(pages.get(adapter_url(adapter))),
    ):
        assert "Forgetting warning" in html
        assert "1.60 × the base model" in html
        assert "Likely cause:" in html
        assert f'href="/projects/{project.pk}/training/{succeeded_job.pk}/found/#forgetting"' in html
    other = Adapter.objects.get(job=store(make_job(), engine_runs["resumed"]))
    compare = text(pages.get(f"/projects/{project.pk}/adapters/compare/?a={adapter.pk}&b={other.pk}"))
    assert f"Forgetting warning ({escape(adapter.name)})" in compare


def test_adapter_page_shows_how_to_serve_it_and_refuses_dora_where_a_runtime_cannot(pages, adapter, owner):
    # The owner is not staff: the base's server folder is named by its folder name only (paths: staff only).
    html = text(pages.get(adapter_url(adapter)))
    source = adapter.base_model.source
    base = f"./{Path(source).name}"
    assert f"vllm serve {base} --enable-lora --max-lora-rank" in html
    assert f"FROM {base}\nADAPTER ./" in html
    assert source not in html  # nor in the model card (its usage names the base's folder by name)
    assert f"from_pretrained(&quot;{base}&quot;)" in html
    assert source not in text(pages.get(job_url(adapter.job)))
    assert f"adapter-{adapter.pk}" in html
    owner.is_staff = True
    owner.save()
    assert f"vllm serve {source} --enable-lora" in text(pages.get(adapter_url(adapter)))
    owner.is_staff = False
    owner.save()
    Adapter.objects.filter(pk=adapter.pk).update(method="dora")
    html = text(pages.get(adapter_url(adapter)))
    assert "vLLM cannot serve DoRA adapters" in html
    assert "vllm serve" not in html
