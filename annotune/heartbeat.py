"""A worker's heartbeat on its row while a long step runs (reading a file, a dataset check, a write).

The reapers take a running row whose heartbeat stopped for a dead worker's. Work that cannot report
between steps (one long transaction, one long computation) beats from a thread with its own database
connection, so the row stays fresh exactly as long as the worker process lives.

Heartbeats are written and judged on one clock, the database's: a worker sets the column to the
database's now() (`beat_time`) and a reaper compares it with the database's now() (`silent_since`).
Clocks of different machines drift; a worker whose clock ran minutes behind the reaper's would
otherwise look dead while it beats, and have its live work taken back over and over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta

from django.db import DatabaseError, connections
from django.db.models import DurationField, Expression, QuerySet, Value
from django.db.models.functions import Now

log = logging.getLogger(__name__)


def beat_time() -> Expression:
    """What a heartbeat column is set to: the database's now(), whichever machine writes it."""
    return Now()


def silent_since(seconds: float) -> Expression:
    """The database's now() less `seconds`: a row whose heartbeat is older stopped reporting.

    Computed in SQL, so the reaper's own clock never meets the worker's (see the module's note)."""
    return Now() - Value(timedelta(seconds=seconds), output_field=DurationField())


@contextmanager
def beating(rows: QuerySet, every: float) -> Iterator[None]:
    """Set `heartbeat_at` on `rows` every `every` seconds until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    rows.update(heartbeat_at=beat_time())
                except DatabaseError as exc:  # SQLite locked by the block's own write, a database blip
                    log.info("heartbeat not written: %s", exc)
                    # A connection the server dropped (restart, failover, a killed backend) stays broken:
                    # closed here, the next beat opens a fresh one instead of failing until the block ends.
                    with suppress(Exception):
                        connections[rows.db].close()
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
