"""The heartbeat thread (annotune/heartbeat.py) survives a connection the server dropped.

PostgreSQL ends the thread's backend (as a restart, a failover or an administrator would): that beat
fails, the thread closes its broken connection, and the next beat reconnects and writes again. A
thread that kept the broken connection would fail every beat until the block ended, and the reaper
would take the live work for dead.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now

from annotation.models import ValidationRun
from annotune.heartbeat import beating

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the thread's own connection must see the row
    pytest.mark.skipif(connection.vendor != "postgresql", reason="ends a PostgreSQL backend"),
]

EVERY = 0.1


def wait_for(predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def heartbeat_backends() -> list[int]:
    """Backends of this database, other than the test's, whose last statement was a heartbeat."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND query LIKE 'UPDATE %%heartbeat_at%%'"
        )
        return [pid for (pid,) in cursor.fetchall()]


def fresh(run: ValidationRun) -> bool:
    return ValidationRun.objects.filter(pk=run.pk, heartbeat_at__gt=Now() - timedelta(seconds=1)).exists()


def test_a_beat_after_the_connection_was_killed_reconnects(project, owner, caplog):
    run = ValidationRun.objects.create(project=project, created_by=owner)
    rows = ValidationRun.objects.filter(pk=run.pk)
    rows.update(status="running", heartbeat_at=Now() - timedelta(hours=1))
    with caplog.at_level(logging.INFO, logger="annotune.heartbeat"), beating(rows, EVERY):
        wait_for(lambda: fresh(run))  # the thread's connection is open and beating
        [pid] = wait_for(heartbeat_backends)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        rows.update(heartbeat_at=Now() - timedelta(hours=1))
        wait_for(lambda: "heartbeat not written" in caplog.text)  # the beat on the dead connection failed
        wait_for(lambda: fresh(run))  # and a later one wrote again, on a new backend
        assert pid not in wait_for(heartbeat_backends)
