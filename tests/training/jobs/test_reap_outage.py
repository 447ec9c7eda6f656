"""The periodic reaper (`annotune.reap`) while the broker is away, or while one app's reaper fails:
the dead work of every app is still taken back, nothing is sent, nothing is sent twice later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from annotune import dispatch
from annotune.celery import reap
from serving.models import GenerationRequest
from training.models import BaseModel, JobStatus, TrainingJob
from training.services.execution import job_claim

from .test_services import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def refuse(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def stale_job(project, owner, base_model) -> TrainingJob:
    """A running job whose worker died 10 minutes ago; created long ago."""
    job = make_job(project, owner, base_model)
    job_claim(job.pk)
    long_ago = timezone.now() - timedelta(minutes=10)
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=long_ago, created_at=long_ago)
    return job


def abandoned_request(project, owner, base: BaseModel) -> GenerationRequest:
    row = GenerationRequest.objects.create(project=project, base_model=base, messages=[], created_by=owner)
    long_ago = timezone.now() - timedelta(hours=1)
    GenerationRequest.objects.filter(pk=row.pk).update(status="running", started_at=long_ago, created_at=long_ago)
    return row


def test_with_the_broker_down_the_reaper_still_takes_back_dead_work(project, owner, fake_base_model, monkeypatch):
    from celery import Celery
    from celery.app.task import Task

    job = stale_job(project, owner, fake_base_model)
    request = abandoned_request(project, owner, fake_base_model)
    monkeypatch.setattr(Task, "apply_async", refuse)  # sends are refused
    monkeypatch.setattr(Celery, "connection_for_read", refuse)  # and queues cannot be inspected
    assert dispatch.waiting_messages(job.queue) is None

    result = reap()

    assert result["training"]["jobs_requeued"] == [job.pk]
    assert result["training"]["jobs_resent"] == []  # nobody can tell whether its message waits
    assert result["serving"]["generations_stale"] == [request.pk]
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.QUEUED, dispatch.BROKER_DOWN_NOTE)
    assert GenerationRequest.objects.get(pk=request.pk).error_code == "worker_lost"


def test_one_failing_reaper_does_not_stop_the_others(project, owner, fake_base_model, monkeypatch):
    from curated_data.services import import_reaper

    job = stale_job(project, owner, fake_base_model)
    monkeypatch.setattr(import_reaper, "reap_imports", lambda: 1 / 0)
    monkeypatch.setattr(transaction, "on_commit", lambda callback, *a, **k: None)  # no real send

    with pytest.raises(ZeroDivisionError):  # the task still fails visibly...
        reap()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED  # ...after the training reaper ran
