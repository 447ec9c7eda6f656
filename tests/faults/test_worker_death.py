"""A worker killed (SIGKILL) during an import and a data-health run: the reaper finishes both, rows once.

Real worker processes against the test database and the configured broker. The first worker is
killed, process group and all, while both jobs are running: nothing of the import is written and
the run has no report. Their heartbeats stop; a new worker's beat runs the reaper, which queues them
again (Redis would redeliver only after its visibility timeout, longer than any task's time limit),
and they succeed on their second attempt: every row once, one report. A late redelivery of either
message is a no-op.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import Example, ExampleStatus, Revision, Role, ValidationRun
from annotation.services import validation_runs
from curated_data.models import ImportJob, ImportStatus
from curated_data.services import imports
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]

ROWS = 4000  # the import: long enough to be killed while it runs
POOL = 1500  # approved examples the data-health run checks
REAPER = {
    "ANNOTUNE_REAP_EVERY_SECONDS": "1",
    "ANNOTUNE_JOB_HEARTBEAT_SECONDS": "1",
    "ANNOTUNE_IMPORT_STALE_SECONDS": "4",
    "ANNOTUNE_VALIDATION_STALE_SECONDS": "4",
    "ANNOTUNE_REDISPATCH_AFTER_SECONDS": "4",
}


def conversation(tag: str, i: int) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"{tag} question {i}: how do I change the delivery address of order {i}?"},
        {"role": "assistant", "content": f"Open order {i}, choose Delivery and enter the new address {i * 7}."},
    ]


@pytest.fixture
def storage(tmp_path, settings):
    root = tmp_path / "storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


def approved_pool(project, author) -> None:
    from annotation.services.conversations import content_hash, search_text

    rows = []
    for i in range(POOL):
        messages = conversation("Pool", i)
        rows.append(Example(project=project, author=author, messages=messages, category="general",
                            status=ExampleStatus.APPROVED, content_hash=content_hash(messages),
                            search_text=search_text(messages)))  # fmt: skip
    Example.objects.bulk_create(rows)


def test_killed_worker_import_and_data_health_run_are_finished_by_the_reaper(storage):
    owner = UserFactory(username="olivia")
    project = ProjectFactory(name="Worker death", created_by=owner)
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    approved_pool(project, owner)
    lines = "\n".join(json.dumps({"messages": conversation("Imported", i)}) for i in range(ROWS))
    env = {"ANNOTUNE_STORAGE_ROOT": str(storage), **REAPER}

    with celery_worker("default", concurrency=2, env=env) as worker:
        job = imports.import_create(project=project, user=owner, upload=SimpleUploadedFile("big.jsonl", lines.encode()))
        run = validation_runs.run_start(project=project, user=owner)
        wait_for(
            lambda: (
                ImportJob.objects.filter(pk=job.pk, status="running", rows_read__gt=0).exists()
                and ValidationRun.objects.filter(pk=run.pk, status="running").exists()
            ),
            timeout=120,
            interval=0.05,
            message="both jobs to be running",
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    job.refresh_from_db()
    run.refresh_from_db()
    assert (job.status, run.status) == ("running", "running"), "a job finished before the kill: make it bigger"
    assert Example.objects.filter(project=project, status=ExampleStatus.DRAFT).count() == 0
    assert not run.report

    with celery_worker("default", env=env, beat=True):
        finished = wait_for(
            lambda: (
                not ImportJob.objects.filter(pk=job.pk, status__in=["queued", "running"]).exists()
                and not ValidationRun.objects.filter(pk=run.pk, status__in=["queued", "running"]).exists()
            ),
            timeout=180,
            interval=0.5,
            message="the reaper's second attempts to finish",
        )
    assert finished
    job.refresh_from_db()
    run.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, (job.error, job.report)
    assert job.attempts == 2
    assert job.rows_imported == ROWS
    run_examples = run.example_count
    assert run.status == "succeeded", run.error
    assert run.attempts == 2
    assert run_examples == POOL
    assert run.report["summary"]

    # A late redelivery of either message (Redis' visibility timeout) runs the task again: a no-op.
    imports.import_run(job_id=job.pk)
    validation_runs.run_execute(run.pk)
    drafts = Example.objects.filter(project=project, status=ExampleStatus.DRAFT)
    assert drafts.count() == ROWS
    assert drafts.values("content_hash").distinct().count() == ROWS  # every row once
    assert Revision.objects.filter(example__in=drafts).count() == ROWS
    job.refresh_from_db()
    assert (job.status, job.attempts, job.rows_imported) == (ImportStatus.SUCCEEDED, 2, ROWS)
    assert ValidationRun.objects.filter(project=project).count() == 1
    assert ValidationRun.objects.get(pk=run.pk).attempts == 2
