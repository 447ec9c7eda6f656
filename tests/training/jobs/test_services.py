"""Launch, cancel, claim and reap: the rules of the job services, without a worker."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import Role
from annotune.errors import ApplicationError
from curated_data.models import DatasetVersion
from tests.factories import ExampleFactory
from tests.workers import ROOT
from training.engine.config import PRESETS
from training.models import BaseModel, JobStatus, TrainingJob
from training.services.configs import resolve_config
from training.services.estimates import estimate_for
from training.services.execution import job_claim
from training.services.jobs import job_cancel, job_launch, reap_stale_jobs

from .conftest import TINY_CONFIG

pytestmark = pytest.mark.django_db


def make_job(project, owner, base_model, **fields) -> TrainingJob:
    values = {
        "project": project,
        "base_model": base_model,
        "train_path": "training/x/train.jsonl",
        "dataset_sha256": "0" * 64,
        "method": "lora",
        "config": resolve_config(preset=None, config=TINY_CONFIG),
        "created_by": owner,
        "max_attempts": 2,
        **fields,
    }
    return TrainingJob.objects.create(**values)


def test_config_errors_name_each_field(project, owner, fake_base_model, approve):
    project.base_model = fake_base_model
    project.save()
    approve(project, owner, 3)
    with pytest.raises(ApplicationError) as caught:
        job_launch(project=project, user=owner, config={"rank": 0, "method": "full", "learning_rte": 0.1})
    errors = caught.value.extra
    assert errors["rank"] == ["must be at least 1"]
    assert errors["method"] == ["must be one of: qlora, lora, dora, dpo"]
    assert errors["learning_rte"] == ["unknown field"]
    assert "rank must be at least 1" in caught.value.message
    assert not TrainingJob.objects.exists()


def test_unknown_preset_is_refused(project, owner, fake_base_model):
    with pytest.raises(ApplicationError) as caught:
        job_launch(project=project, user=owner, preset="turbo", base_model=fake_base_model)
    assert "preset" in caught.value.extra


def test_preset_values_are_overridden_field_by_field():
    config = resolve_config(preset="quick", config={"rank": 4})
    assert config["rank"] == 4
    assert config["learning_rate"] == PRESETS["quick"]["learning_rate"]
    assert config["packing"] is True


def test_empty_dataset_is_refused(project, owner, annotator, fake_base_model):
    project.base_model = fake_base_model
    project.save()
    ExampleFactory(project=project, author=annotator)  # a draft does not count
    with pytest.raises(ApplicationError, match="no approved examples"):
        job_launch(project=project, user=owner)
    assert not TrainingJob.objects.exists()


def test_project_without_base_model_is_refused(project, owner, approve):
    approve(project, owner, 2)
    with pytest.raises(ApplicationError) as caught:
        job_launch(project=project, user=owner)
    assert "base_model" in caught.value.extra


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.ANNOTATOR])
def test_only_owners_train(project, role, reviewer, annotator, fake_base_model):
    user = reviewer if role == Role.REVIEWER else annotator
    with pytest.raises(PermissionDenied):
        job_launch(project=project, user=user, base_model=fake_base_model)


def test_api_refuses_non_owners_and_hides_from_outsiders(api, project, owner, annotator, outsider, fake_base_model):
    job = make_job(project, owner, fake_base_model)
    p, j = project.pk, job.pk
    launch = api(annotator).post(f"/api/v1/projects/{p}/training-jobs/", {"preset": "quick"}, format="json")
    assert launch.status_code == 403
    assert api(annotator).post(f"/api/v1/projects/{p}/training-jobs/{j}/cancel/").status_code == 403
    assert api(annotator).get(f"/api/v1/projects/{p}/training-jobs/{j}/").status_code == 200
    urls = [
        ("get", f"/api/v1/projects/{p}/training-jobs/"),
        ("post", f"/api/v1/projects/{p}/training-jobs/"),
        ("get", f"/api/v1/projects/{p}/training-jobs/{j}/"),
        ("post", f"/api/v1/projects/{p}/training-jobs/{j}/cancel/"),
        ("get", f"/api/v1/projects/{p}/training-jobs/{j}/metrics/"),
        ("get", f"/api/v1/projects/{p}/training-jobs/{j}/adapter/"),
        ("post", f"/api/v1/projects/{p}/training-estimate/"),
    ]
    client = api(outsider)
    for method, url in urls:
        assert getattr(client, method)(url, {}, format="json").status_code == 404, url
    pages = Client()
    pages.force_login(outsider)
    for method, url in [
        ("get", f"/projects/{p}/training/"),
        ("get", f"/projects/{p}/training/new/"),
        ("post", f"/projects/{p}/training/one-click/"),
        ("post", f"/projects/{p}/training/estimate/"),
        ("get", f"/projects/{p}/training/{j}/"),
        ("get", f"/projects/{p}/training/{j}/progress/"),
        ("get", f"/projects/{p}/training/{j}/metrics.json"),
        ("post", f"/projects/{p}/training/{j}/cancel/"),
    ]:
        assert getattr(pages, method)(url).status_code == 404, url
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert not job.cancel_requested


def test_claim_is_taken_once(project, owner, fake_base_model):
    job = make_job(project, owner, fake_base_model)
    assert job_claim(job.pk) is not None
    assert job_claim(job.pk) is None
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1
    assert job.heartbeat_at is not None


def test_cancel_queued_job_ends_it_and_it_is_never_claimed(project, owner, fake_base_model):
    job = make_job(project, owner, fake_base_model)
    job = job_cancel(job=job, user=owner)
    assert job.status == JobStatus.CANCELLED
    assert job_claim(job.pk) is None
    with pytest.raises(ApplicationError, match="already finished"):
        job_cancel(job=job, user=owner)


def test_cancel_running_job_sets_the_flag(project, owner, fake_base_model):
    job = make_job(project, owner, fake_base_model)
    job_claim(job.pk)
    job = job_cancel(job=job, user=owner)
    assert job.status == JobStatus.RUNNING
    assert job.cancel_requested
    assert job.finished_at is None
    assert job.error == ""


def test_cancel_answers_the_status_the_job_has_now_not_the_one_read(project, owner, fake_base_model):
    """The page read the job running; meanwhile the reaper re-queued it: the cancel ends it."""
    job = make_job(project, owner, fake_base_model)
    job_claim(job.pk)
    seen_running = TrainingJob.objects.get(pk=job.pk)
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)  # the reaper's re-queue
    job = job_cancel(job=seen_running, user=owner)
    assert job.status == JobStatus.CANCELLED
    assert job.error == "Cancelled before it started."
    assert job.finished_at is not None
    assert job_claim(job.pk) is None


def test_reaper_requeues_silent_jobs_then_gives_up(project, owner, fake_base_model, django_capture_on_commit_callbacks):
    job = make_job(project, owner, fake_base_model)
    fresh = make_job(project, owner, fake_base_model)
    job_claim(job.pk)
    job_claim(fresh.pk)
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks() as callbacks:
        assert reap_stale_jobs(stale_after=60)["requeued"] == [job.pk]
    assert len(callbacks) == 1  # the task is sent once the transaction commits
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert "re-queued" in job.error
    assert TrainingJob.objects.get(pk=fresh.pk).status == JobStatus.RUNNING

    job_claim(job.pk)  # attempt 2 of 2 goes silent too
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks() as callbacks:
        reaped = reap_stale_jobs(stale_after=60)
    assert (reaped["requeued"], reaped["failed"]) == ([], [job.pk])
    assert callbacks == []
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_code == "worker_lost"
    assert "attempt 2 of 2" in job.error


def test_job_list_and_detail_queries_do_not_grow(api, project, owner, fake_base_model, django_assert_num_queries):
    for _ in range(5):
        make_job(project, owner, fake_base_model)
    client = api(owner)
    with django_assert_num_queries(2):  # project with the caller's role, jobs with base model and author
        response = client.get(f"/api/v1/projects/{project.pk}/training-jobs/")
    assert len(response.json()) == 5


def test_web_modules_do_not_import_torch():
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'annotune.settings'); "
        "os.environ['DEBUG'] = '1'; django.setup(); import annotune.urls, training.views.jobs, training.apis.jobs, "
        "training.tasks, training.services.jobs, training.forms, evaluation.views.evaluations, "
        "evaluation.apis.evaluations, evaluation.tasks, serving.views.adapters, serving.apis.adapters, serving.tasks, "
        "serving.openai_compat.views; from django.urls import resolve; "
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'bitsandbytes') if m in sys.modules); "
        "print(','.join(heavy) or 'none')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "none", out.stderr[-2000:]


@pytest.mark.slow
def test_launch_that_does_not_fit_is_refused_with_numbers(project, owner, approve, tiny_models, settings):
    settings.TRAINING_DEVICE_MEMORY_MB = 64
    project.base_model = BaseModel.objects.create(name="tiny", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 4)
    estimate_for(base_model=project.base_model, config=resolve_config(preset=None, config=TINY_CONFIG))  # kept
    with pytest.raises(ApplicationError) as caught:
        job_launch(project=project, user=owner, config=TINY_CONFIG)
    message = caught.value.message
    assert "needs about" in message
    assert "GiB" in message
    assert "0.1 GiB" in message
    assert "runtime overhead" in message
    assert not TrainingJob.objects.exists()
    assert not DatasetVersion.objects.exists()  # the version the launch would have made is not kept


def test_launch_page_offers_presets_and_the_schema_fields(project, owner, fake_base_model):
    make_job(project, owner, fake_base_model)
    client = Client()
    client.force_login(owner)
    page = client.get(f"/projects/{project.pk}/training/new/")
    assert page.status_code == 200
    for name in (b'name="preset"', b'value="balanced"', b'name="cfg_rank"', b'name="cfg_method"', b"cfg_use_rslora"):
        assert name in page.content
    listing = client.get(f"/projects/{project.pk}/training/")
    assert listing.status_code == 200
    assert b"Train (balanced)" in listing.content
    assert b"Train" in client.get(f"/projects/{project.pk}/").content


def test_one_click_train_without_base_model_explains(project, owner, approve):
    approve(project, owner, 2)
    client = Client()
    client.force_login(owner)
    response = client.post(f"/projects/{project.pk}/training/one-click/", follow=True)
    assert b"Choose a base model" in response.content
    assert not TrainingJob.objects.exists()


def test_launch_from_a_dataset_version_records_it(
    api, project, owner, approve, tiny_models, django_capture_on_commit_callbacks
):
    from curated_data.services.versions import version_create

    project.base_model = BaseModel.objects.create(name="tiny", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 12)
    version = version_create(project=project, user=owner, validation_fraction=0.25)
    with django_capture_on_commit_callbacks(execute=False):
        response = api(owner).post(
            f"/api/v1/projects/{project.pk}/training-jobs/",
            {"preset": "quick", "dataset_version": version.pk},
            format="json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["dataset_version"], body["dataset_version_number"]) == (version.pk, version.number)
    job = TrainingJob.objects.get(pk=body["id"])
    assert job.dataset_version == version
    assert (job.dataset_sha256, job.train_path) == (version.sha256, version.train_path)
    assert (job.train_examples, job.validation_examples) == (version.train_count, version.validation_count)
    browser = Client()
    browser.force_login(owner)
    page = browser.get(reverse("training-job-detail", args=[project.pk, job.pk]))
    assert page.status_code == 200
    assert f"dataset version v{version.number}".encode() in page.content

    latest = job_launch(project=project, user=owner, preset="quick")  # no version named: the latest
    assert latest.dataset_version == version
