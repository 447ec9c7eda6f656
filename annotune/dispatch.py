"""Sending work to the Celery broker so that a broker outage neither breaks a request nor strands a row.

The database row is the source of truth; its task is sent once the row is committed. A send that
fails (the broker is down) is logged and leaves the row queued: `on_failure` may record that on the
row, and each app's periodic reaper sends again the rows still queued with no message waiting for
them (`lost_messages`: a Redis restart drops what it held in memory). A second message for a row is
harmless because every task starts with a conditional claim (`status=QUEUED` -> RUNNING).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from kombu.exceptions import ChannelError, OperationalError

log = logging.getLogger(__name__)

# Shown on rows whose task could not be sent.
BROKER_DOWN_NOTE = "Waiting for the task queue, which is unavailable: sent again automatically when it is back."


def send(task, *args, on_failure: Callable[[], None] | None = None) -> bool:
    """`task.delay(*args)`; False (logged, `on_failure` called) when the broker cannot be reached."""
    try:
        task.apply_async(args)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, %s%s not sent (%s); the row stays for the reaper", task.name, args, exc)
        if on_failure is not None:
            on_failure()
        return False
    return True


def send_on_commit(task, *args, on_failure: Callable[[], None] | None = None) -> None:
    """Send the task once the current transaction commits (a worker never sees an uncommitted row)."""
    transaction.on_commit(lambda: send(task, *args, on_failure=on_failure))


def waiting_messages(queue: str) -> int | None:
    """Messages waiting in `queue` on the broker (0 for a queue the broker does not hold, as after a
    restart); None when the broker cannot be reached, so nobody can tell."""
    from annotune.celery import app

    try:
        with app.connection_for_read() as connection:
            return connection.default_channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:
        return 0
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, queue %s not inspected (%s); nothing is sent again this time", queue, exc)
        return None


def lost_messages(rows: QuerySet, *, queue: str, older_than: float, since: str = "created_at") -> list[int]:
    """Ids of `rows` (queued ones) waiting longer than `older_than` seconds while `queue` holds no message.

    With prefetch 1 a message leaves the queue only when a worker starts on it, and a started task
    claims its row at once: an old queued row and an empty queue mean the row's message is gone.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than)
    ids = list(rows.filter(**{f"{since}__lt": cutoff}).order_by("pk").values_list("pk", flat=True)[:500])
    if not ids or waiting_messages(queue) != 0:  # messages wait (the rows' may be among them), or unknown
        return []
    return ids


def resend_lost(rows: QuerySet, task, *, queue: str, older_than: float, since: str = "created_at") -> list[int]:
    """Send `task` again for the rows whose message was lost; returns the ids sent."""
    return [pk for pk in lost_messages(rows, queue=queue, older_than=older_than, since=since) if send(task, pk)]
