"""A real task through the configured broker (Redis in CI, the file-system broker locally)."""

from __future__ import annotations

import pytest
from django.db import transaction

from annotation.models import WorkerPing
from annotation.tasks import answer_ping
from tests.workers import celery_worker, wait_for


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_task_round_trip_through_a_real_worker():
    with celery_worker("default"):
        with transaction.atomic():
            ping = WorkerPing.objects.create()
            transaction.on_commit(lambda: answer_ping.delay(ping.pk))
        answered = wait_for(
            lambda: WorkerPing.objects.filter(pk=ping.pk, answered_at__isnull=False).first(),
            timeout=60,
            message="the worker to answer the ping",
        )
    assert answered.worker
    assert answered.answered_at >= answered.created_at
