"""Sending tasks while the broker is down: requests answer (no 500), rows wait or fail with the reason.

The broker's refusal is kombu's own error, raised where Celery publishes (`Task.apply_async`); the
real outage, with a Redis stopped and started again under real processes, is
tests/faults/test_broker_restart.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from kombu.exceptions import OperationalError

from annotation.models import ValidationRun
from annotation.tasks import answer_ping
from annotune import dispatch
from curated_data.models import ImportJob
from serving.models import GenerationRequest
from training.models import BaseModel


@pytest.fixture
def broker_down(monkeypatch):
    from celery.app.task import Task

    def refuse(self, *args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Task, "apply_async", refuse)


@pytest.fixture
def empty_broker():
    """The test run's broker with nothing waiting in its queues."""
    from annotune.celery import app

    def purge() -> None:
        with app.connection_for_write() as connection:
            for queue in ("default", "training", "inference"):
                connection.default_channel.queue_purge(queue)

    purge()
    yield
    purge()


@pytest.fixture
def storage(tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def test_a_refused_send_is_reported_not_raised(broker_down):
    failed = []
    assert dispatch.send(answer_ping, 1, on_failure=lambda: failed.append(1)) is False
    assert failed == [1]


@pytest.mark.django_db
def test_lost_messages_are_old_queued_rows_while_their_queue_is_empty(project, owner, empty_broker):
    old, new = (ValidationRun.objects.create(project=project, created_by=owner) for _ in range(2))
    ValidationRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    queued = ValidationRun.objects.filter(status="queued")
    assert dispatch.lost_messages(queued, queue="default", older_than=60) == [old.pk]
    assert dispatch.send(answer_ping, 0)  # a message waits: the old row's may be behind it
    assert dispatch.waiting_messages("default") == 1
    assert dispatch.lost_messages(queued, queue="default", older_than=60) == []
    assert dispatch.waiting_messages("no-such-queue") == 0


@pytest.mark.django_db(transaction=True)
def test_an_import_sent_while_the_broker_is_down_waits_and_says_why(api, project, owner, storage, broker_down):
    upload = SimpleUploadedFile("rows.jsonl", b'{"messages": [{"role": "user", "content": "Hi"}]}\n')
    response = api(owner).post(f"/api/v1/projects/{project.pk}/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    assert response.json()["report"]["notes"] == [dispatch.BROKER_DOWN_NOTE]
    assert ImportJob.objects.get().report["notes"] == [dispatch.BROKER_DOWN_NOTE]


@pytest.mark.django_db(transaction=True)
def test_a_data_health_run_started_while_the_broker_is_down_waits_and_says_why(api, project, owner, broker_down):
    response = api(owner).post(f"/api/v1/projects/{project.pk}/validation-runs/", {}, format="json")
    assert response.status_code == 202, response.json()
    assert (response.json()["status"], response.json()["phase"]) == ("queued", dispatch.BROKER_DOWN_NOTE)
    assert ValidationRun.objects.get().phase == dispatch.BROKER_DOWN_NOTE


@pytest.mark.django_db(transaction=True)
def test_generate_while_the_broker_is_down_is_a_503_with_retry_after(api, project, owner, broker_down):
    project.base_model = BaseModel.objects.create(name="nowhere", source="/nonexistent/model")
    project.save(update_fields=["base_model"])
    body = {"messages": [{"role": "user", "content": "Hello?"}], "adapter": None}
    response = api(owner).post(f"/api/v1/projects/{project.pk}/generate", body, format="json")
    assert response.status_code == 503, response.json()
    assert response["Retry-After"] == "30"
    assert "task queue is unavailable" in response.json()["detail"]
    assert GenerationRequest.objects.get().error_code == "broker_unavailable"


@pytest.mark.django_db
def test_the_generation_reaper_fails_lost_and_abandoned_requests(project, owner, settings, empty_broker):
    from serving.services.reaper import reap_generations

    base = BaseModel.objects.create(name="nowhere", source="/nonexistent/model")
    long_ago = timezone.now() - timedelta(hours=1)

    def request(**fields) -> GenerationRequest:
        row = GenerationRequest.objects.create(project=project, base_model=base, messages=[], created_by=owner)
        GenerationRequest.objects.filter(pk=row.pk).update(**fields)
        return row

    lost = request(created_at=long_ago)
    fresh = request()
    abandoned = request(created_at=long_ago, status="running", started_at=long_ago)
    answering = request(created_at=long_ago, status="running", started_at=timezone.now())
    assert reap_generations() == {"lost": [lost.pk], "stale": [abandoned.pk]}
    rows = {row.pk: row for row in GenerationRequest.objects.all()}
    assert (rows[lost.pk].status, rows[lost.pk].error_code) == ("failed", "lost")
    assert "Send it again" in rows[lost.pk].error
    assert (rows[abandoned.pk].status, rows[abandoned.pk].error_code) == ("failed", "worker_lost")
    assert rows[fresh.pk].status == "queued"
    assert rows[answering.pk].status == "running"
