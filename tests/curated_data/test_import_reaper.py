"""The imports' reaper and the attempt fence: an import whose worker died is run again, its rows written once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation.models import Example, Revision
from curated_data.models import ImportJob, ImportStatus
from curated_data.services import import_reaper, imports

pytestmark = pytest.mark.django_db


def rows(n: int) -> bytes:
    return "\n".join(
        json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                 {"role": "assistant", "content": f"Answer {i}."}]})
        for i in range(n)
    ).encode()  # fmt: skip


@pytest.fixture
def queued(project, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # no message: the tests decide what runs
        return imports.import_create(project=project, user=owner, upload=SimpleUploadedFile("r.jsonl", rows(5)))


def claimed(job: ImportJob, *, attempts: int, silent_for: float) -> None:
    """The row as a worker left it when it stopped `silent_for` seconds ago, on attempt `attempts`."""
    beat = timezone.now() - timedelta(seconds=silent_for)
    ImportJob.objects.filter(pk=job.pk).update(status="running", phase="writing", attempts=attempts, heartbeat_at=beat)


def test_a_silent_import_is_queued_again_and_sent(queued, settings, django_capture_on_commit_callbacks):
    settings.ANNOTUNE_IMPORT_STALE_SECONDS = 60
    claimed(queued, attempts=1, silent_for=120)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert import_reaper.reap_imports()["requeued"] == [queued.pk]
    assert len(sent) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.phase) == ("queued", "waiting")
    assert "stopped reporting" in queued.report["notes"][0]
    imports.import_run(job_id=queued.pk)  # the message the reaper sent
    queued.refresh_from_db()
    assert (queued.status, queued.attempts, queued.rows_imported) == ("succeeded", 2, 5)
    assert Example.objects.count() == 5


def test_an_import_with_a_fresh_heartbeat_is_left_alone(queued, settings):
    settings.ANNOTUNE_IMPORT_STALE_SECONDS = 60
    claimed(queued, attempts=1, silent_for=5)
    assert import_reaper.reap_imports()["requeued"] == []
    assert ImportJob.objects.get(pk=queued.pk).status == "running"


def test_the_last_attempt_fails_with_what_to_do(queued, settings):
    settings.ANNOTUNE_IMPORT_STALE_SECONDS = 60
    settings.ANNOTUNE_JOB_MAX_ATTEMPTS = 2
    claimed(queued, attempts=2, silent_for=120)
    assert import_reaper.reap_imports()["failed"] == [queued.pk]
    queued.refresh_from_db()
    assert queued.status == ImportStatus.FAILED
    assert "retry the import" in queued.error
    assert imports.can_retry(queued)


def test_an_attempt_taken_over_while_it_wrote_rolls_its_rows_back(queued, monkeypatch):
    """The reaper took the job from a worker presumed dead that was still writing: that worker's commit
    is refused, the new attempt writes the rows, once."""
    write = imports._write

    def taken_over_meanwhile(job, prepared, *args):
        written = write(job, prepared, *args)
        # Meanwhile the reaper re-queued the job and another worker claimed it (attempt 2).
        ImportJob.objects.filter(pk=job.pk).update(attempts=job.attempts + 1)
        return written

    monkeypatch.setattr(imports, "_write", taken_over_meanwhile)
    imports.import_run(job_id=queued.pk)
    assert Example.objects.count() == 0
    assert Revision.objects.count() == 0
    assert ImportJob.objects.get(pk=queued.pk).status == "running"  # the other attempt's, untouched

    monkeypatch.setattr(imports, "_write", write)
    ImportJob.objects.filter(pk=queued.pk).update(status="queued")
    imports.import_run(job_id=queued.pk)
    imports.import_run(job_id=queued.pk)  # a redelivered message: a no-op
    job = ImportJob.objects.get(pk=queued.pk)
    assert (job.status, job.rows_imported) == ("succeeded", 5)
    assert Example.objects.count() == 5
    assert Revision.objects.count() == 5


def test_an_attempt_taken_over_while_it_read_leaves_the_later_attempts_row_alone(queued, monkeypatch):
    """A worker presumed dead was still reading the file while a later attempt imported it: the old
    worker's counters, report and "writing" phase do not land on the finished row."""
    validate = imports._validate

    def finished_elsewhere_meanwhile(job, progress, *args):
        validation = validate(job, progress, *args)
        ImportJob.objects.filter(pk=job.pk).update(
            status="succeeded",
            phase="done",
            attempts=job.attempts + 1,
            rows_read=7,
            rows_imported=5,
            report={"notes": ["later"]},
        )
        progress.tick(99, 99, 0, force=True)
        return validation

    monkeypatch.setattr(imports, "_validate", finished_elsewhere_meanwhile)
    imports.import_run(job_id=queued.pk)
    job = ImportJob.objects.get(pk=queued.pk)
    assert (job.status, job.phase, job.rows_imported, job.rows_read) == ("succeeded", "done", 5, 7)
    assert job.report == {"notes": ["later"]}
    assert Example.objects.count() == 0  # the old attempt wrote nothing
