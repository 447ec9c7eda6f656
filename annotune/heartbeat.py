"""A worker's heartbeat on its row while a long step runs (reading a file, a dataset check, a write).

The reapers take a running row whose heartbeat stopped for a dead worker's. Work that cannot report
between steps (one long transaction, one long computation) beats from a thread with its own database
connection, so the row stays fresh exactly as long as the worker process lives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connections
from django.db.models import QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)


@contextmanager
def beating(rows: QuerySet, every: float) -> Iterator[None]:
    """Set `heartbeat_at` on `rows` every `every` seconds until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    rows.update(heartbeat_at=timezone.now())
                except DatabaseError as exc:  # SQLite locked by the block's own write, a database blip
                    log.info("heartbeat not written: %s", exc)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
