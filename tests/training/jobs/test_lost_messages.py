"""Training jobs and the broker: a launch the broker refused waits with the reason; the reaper sends it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from annotune import dispatch
from training.models import TrainingJob
from training.services import jobs, reaper

from .test_services import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def purge(queue: str) -> None:
    from annotune.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


def test_a_job_the_broker_refused_waits_then_the_reaper_sends_it(project, owner, fake_base_model, monkeypatch):
    from celery.app.task import Task

    job = make_job(project, owner, fake_base_model)
    purge(job.queue)  # the queue of the job's device class, empty
    with monkeypatch.context() as broker_down:
        broker_down.setattr(Task, "apply_async", lambda *a, **k: (_ for _ in ()).throw(OperationalError("refused")))
        with transaction.atomic():
            jobs.job_send_on_commit(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == ("queued", dispatch.BROKER_DOWN_NOTE)
    assert reaper.reap()["jobs_resent"] == []  # too recent: its message may still be on the way
    TrainingJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert reaper.reap()["jobs_resent"] == [job.pk]
    assert dispatch.waiting_messages(job.queue) == 1
    assert TrainingJob.objects.get(pk=job.pk).error == ""
    assert reaper.reap()["jobs_resent"] == []  # its message waits in the queue: not sent twice
    purge(job.queue)
