"""No web request waits for torch: a launch or an estimate whose memory estimate is not kept yet answers at
once, and a default-queue task estimates (and places, and sends) it (training/services/estimating.py)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.test import Client

from annotation.models import Project
from annotune import dispatch
from annotune.errors import ApplicationError
from curated_data.services.versions import version_create
from training.models import BaseModel, JobPhase, JobStatus, TrainingJob
from training.services import estimates
from training.services.estimates import estimate_key, estimates_fill
from training.services.estimating import job_estimate_run
from training.services.jobs import job_cancel, job_launch
from training.services.sweeps import sweep_launch

from .conftest import TINY_CONFIG

pytestmark = pytest.mark.django_db


def _no_engine_in_the_request(*args, **kwargs):
    raise AssertionError("the estimate subprocess ran in a web request")


@pytest.fixture(autouse=True)
def nothing_asked_yet():
    """Requests for an estimate are remembered in the cache a couple of minutes: each test starts afresh."""
    cache.clear()


@pytest.fixture
def sent(monkeypatch):
    """The tasks sent once a transaction commits, by name and arguments (the broker is the boundary)."""
    tasks: list[tuple[str, tuple]] = []

    def send(task, *args, on_failure=None):
        tasks.append((task.name, args))
        return True

    monkeypatch.setattr(dispatch, "send", send)
    return tasks


@pytest.fixture
def trainable(project, owner, approve, tiny_models):
    project.base_model = BaseModel.objects.create(name="tiny", source=tiny_models("llama"))
    project.save()
    approve(project, owner, 12)
    version_create(project=project, user=owner, validation_fraction=0.25)
    return project


@pytest.fixture
def browser(owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def no_engine(monkeypatch):
    """`with no_engine():` the estimate subprocess fails the test if it starts (as a web request)."""

    @contextmanager
    def patched():
        with monkeypatch.context() as patch:
            patch.setattr(estimates.subprocess, "run", _no_engine_in_the_request)
            yield

    return patched


def test_a_cold_one_click_queues_the_job_estimating_and_the_task_places_and_sends_it(
    browser, trainable, no_engine, sent, django_capture_on_commit_callbacks
):
    with no_engine(), django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/projects/{trainable.pk}/training/one-click/", follow=True)
    assert response.status_code == 200
    job = TrainingJob.objects.get()
    assert (job.status, job.phase, job.queue, job.method_fixed) == (JobStatus.QUEUED, JobPhase.ESTIMATING, "", False)
    assert sent == [("training.tasks.estimate_training_job", (job.pk,))]
    assert b"estimating the memory it needs first" in response.content
    assert b"Estimating the memory this job needs" in response.content  # the job page says where it stands

    with django_capture_on_commit_callbacks(execute=True):
        assert job_estimate_run(job.pk) == "placed on training.cpu"
    job.refresh_from_db()
    assert (job.phase, job.queue, job.method, job.device_type) == (JobPhase.PLACED, "training.cpu", "lora", "cpu")
    assert job.estimate["total_bytes"] > 0
    assert sent[-1] == ("training.tasks.run_training_job", (job.pk,))
    kept = BaseModel.objects.get(pk=trainable.base_model_id).estimates
    assert estimate_key(job.config) in kept  # the cache is filled: the next click is placed at once
    assert job_estimate_run(job.pk) == "not estimating"  # a duplicate message changes nothing

    with no_engine(), django_capture_on_commit_callbacks(execute=True):
        browser.post(f"/projects/{trainable.pk}/training/one-click/")
    again = TrainingJob.objects.exclude(pk=job.pk).get()
    assert (again.phase, again.queue, again.method) == (JobPhase.PLACED, "training.cpu", "lora")
    assert sent[-1] == ("training.tasks.run_training_job", (again.pk,))


def test_the_estimate_panel_answers_estimating_and_polls_until_a_worker_kept_it(
    browser, trainable, no_engine, sent, django_capture_on_commit_callbacks
):
    url = f"/projects/{trainable.pk}/training/estimate/"
    form = {"preset": "quick", "cfg_method": "lora"}
    with no_engine(), django_capture_on_commit_callbacks(execute=True):
        first = browser.post(url, form)
        second = browser.post(url, form)  # the panel's poll: asked once, not twice
    assert first.status_code == second.status_code == 200
    assert b"Estimating the memory this job needs" in first.content
    assert b'hx-trigger="load delay:2s"' in first.content
    assert b"GiB" not in first.content
    assert [name for name, _ in sent] == ["training.tasks.fill_estimates"]
    base_model_id, configs = sent[0][1]

    assert estimates_fill(base_model_id=base_model_id, configs=configs) == 1  # the worker's task
    with no_engine():
        answered = browser.post(url, form)
    assert b"GiB" in answered.content
    assert b"training.cpu" in answered.content


def test_the_estimate_api_answers_202_then_the_plan(
    api, owner, trainable, no_engine, sent, django_capture_on_commit_callbacks
):
    url = f"/api/v1/projects/{trainable.pk}/training-estimate/"
    body = {"preset": "quick", "config": {"method": "lora"}}
    with no_engine(), django_capture_on_commit_callbacks(execute=True):
        pending = api(owner).post(url, body, format="json")
    assert pending.status_code == 202
    assert pending["Retry-After"] == "2"
    assert pending.json()["status"] == "estimating"
    estimates_fill(base_model_id=sent[0][1][0], configs=sent[0][1][1])
    with no_engine():
        answered = api(owner).post(url, body, format="json")
    assert answered.status_code == 200
    assert answered.json()["method"] == "lora"
    assert answered.json()["fits"] is True


def test_a_cold_launch_that_does_not_fit_fails_with_the_numbers_on_its_page(
    browser, trainable, owner, settings, no_engine
):
    settings.TRAINING_DEVICE_MEMORY_MB = 64
    with no_engine():
        job = job_launch(project=trainable, user=owner, config=TINY_CONFIG)
    assert job.phase == JobPhase.ESTIMATING
    assert job_estimate_run(job.pk) == "refused"
    job.refresh_from_db()
    assert (job.status, job.phase, job.error_code) == (JobStatus.FAILED, JobPhase.PLACED, "not_placed")
    assert "needs about" in job.error
    assert "0.1 GiB" in job.error
    page = browser.get(f"/projects/{trainable.pk}/training/{job.pk}/").content.decode()
    assert "This job needs about" in page
    assert "Nothing ran" in page

    # Now the estimate is kept: the next launch (a new request reads the project afresh) is refused at once.
    with no_engine(), pytest.raises(ApplicationError, match="needs about"):
        job_launch(project=Project.objects.get(pk=trainable.pk), user=owner, config=TINY_CONFIG)
    assert TrainingJob.objects.count() == 1


def test_a_model_that_cannot_be_loaded_fails_the_job_and_the_panel_says_why(
    owner, project, approve, fake_base_model, browser, no_engine, sent, django_capture_on_commit_callbacks
):
    project.base_model = fake_base_model
    project.save()
    approve(project, owner, 12)
    with no_engine():
        job = job_launch(project=project, user=owner, config=TINY_CONFIG)
    assert job_estimate_run(job.pk) == "refused"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "cannot be loaded" in job.error
    with no_engine(), pytest.raises(ApplicationError) as caught:  # the failure is kept a few minutes: said at once
        job_launch(project=Project.objects.get(pk=project.pk), user=owner, config=TINY_CONFIG)
    assert "base_model" in caught.value.extra

    url, form = f"/projects/{project.pk}/training/estimate/", {"preset": "quick", "cfg_method": "lora"}
    with no_engine(), django_capture_on_commit_callbacks(execute=True):
        assert b"Estimating the memory" in browser.post(url, form).content
    (_name, (base_model_id, configs)), *_ = sent
    assert estimates_fill(base_model_id=base_model_id, configs=configs) == 0  # the worker's try fails
    with no_engine():
        panel = browser.post(url, form)
    assert b"cannot be loaded" in panel.content


def test_a_job_cancelled_while_estimating_is_never_placed(trainable, owner, no_engine, sent):
    with no_engine():
        job = job_launch(project=trainable, user=owner, config=TINY_CONFIG)
    job_cancel(job=job, user=owner)
    assert job_estimate_run(job.pk) == "not estimating"
    job.refresh_from_db()
    assert (job.status, job.queue) == (JobStatus.CANCELLED, "")
    assert not [name for name, _ in sent if name == "training.tasks.run_training_job"]


def test_a_cold_sweep_creates_its_members_estimating_without_the_engine(
    trainable, owner, no_engine, sent, django_capture_on_commit_callbacks
):
    with no_engine(), django_capture_on_commit_callbacks(execute=True):
        sweep = sweep_launch(project=trainable, user=owner, config=TINY_CONFIG, ranks=[2, 4])
    members = list(sweep.jobs.order_by("pk"))
    assert [(j.phase, j.queue) for j in members] == [(JobPhase.ESTIMATING, "")] * 2
    assert sent == [("training.tasks.estimate_training_job", (j.pk,)) for j in members]
