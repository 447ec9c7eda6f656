"""A real worker killed (SIGKILL) in the middle of writing an import leaves no partial rows; a retry succeeds."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from annotation.models import Example, Revision
from curated_data.models import ImportJob, ImportPhase, ImportStatus
from curated_data.services import imports
from tests.workers import celery_worker, wait_for

# Big enough that the write phase outlasts the waits below on a fast machine (20,000 rows were written
# in under half a second on SQLite).
ROWS = 60_000


def big_file() -> bytes:
    lines = (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"Customer question number {i}: where is my parcel?"},
                    {"role": "assistant", "content": f"Parcel {i} left the warehouse and arrives tomorrow."},
                ]
            }
        )
        for i in range(ROWS)
    )
    return ("\n".join(lines) + "\n").encode()


def rows_being_written() -> bool:
    """PostgreSQL: the id sequence moves (outside transactions) when the worker reserves its first batch's ids."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('annotation_example', 'id')")
        (sequence,) = cursor.fetchone()
        cursor.execute(f"SELECT is_called FROM {sequence}")  # noqa: S608 - a name from the catalogue
        return cursor.fetchone()[0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_import_leaves_no_partial_rows(project, owner, storage_root):
    env = {"ANNOTUNE_STORAGE_ROOT": str(storage_root), "ANNOTUNE_IMPORT_BATCH_SIZE": "50"}
    with celery_worker("default", env=env) as worker:
        job = imports.import_create(
            project=project, user=owner, upload=SimpleUploadedFile("big.jsonl", big_file())
        )  # queued when the service's transaction commits
        wait_for(
            lambda: ImportJob.objects.filter(pk=job.pk, phase=ImportPhase.WRITING).exists(),
            timeout=120,
            interval=0.02,
            message="the worker to start writing",
        )
        if connection.vendor == "postgresql":
            wait_for(rows_being_written, timeout=60, interval=0.05, message="ids reserved for the first batch")
            time.sleep(0.3)  # a few batches of 50 are COPYed meanwhile, inside the open transaction
        else:
            time.sleep(0.1)  # SQLite: uncommitted rows are invisible; the write phase lasts about a second
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING, "the worker finished before it was killed: make the import bigger"
    assert job.phase == ImportPhase.WRITING
    assert Example.objects.count() == 0
    assert Revision.objects.count() == 0

    # The worker went quiet; once the job counts as stale it may be retried, and the retry imports it all once.
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with celery_worker("default", env={"ANNOTUNE_STORAGE_ROOT": str(storage_root)}):
        job.refresh_from_db()
        imports.import_retry(job=job, user=owner)
        done = wait_for(
            lambda: ImportJob.objects.filter(pk=job.pk).exclude(status__in=["queued", "running"]).first(),
            timeout=180,
            message="the retried import to finish",
        )
    assert done.status == ImportStatus.SUCCEEDED, (done.error, done.report)
    assert done.attempts == 2
    assert Example.objects.count() == ROWS
    assert Revision.objects.count() == ROWS
