"""Every work row (annotune/work.py) behaves the same: one claim wins, and its app's reaper takes back a row
whose worker died, queued again until ANNOTUNE_JOB_MAX_ATTEMPTS, then failed with the reason. Generation
requests and blind evaluations are claimed and fenced the same way, but their reapers fail a row whose worker
died at once (never queued again)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import models
from django.utils import timezone

from annotation.models import DraftBatch, ValidationRun
from annotation.services.draft_batches import reap_batches
from annotation.services.validation_runs import reap_runs
from annotune import work
from curated_data.models import ImportJob, VersionBuild
from curated_data.services.import_reaper import reap_imports
from curated_data.services.versions import reap_builds
from evaluation.models import Evaluation
from evaluation.services.reaper import reap_evaluations
from serving.models import AdapterOperation, GenerationRequest
from serving.services.reaper import reap_generations, reap_operations
from training.models import BaseModel, TrainingJob
from training.services.jobs import reap_stale_jobs

pytestmark = pytest.mark.django_db


@dataclass
class Kind:
    model: type[models.Model]
    create: Callable[..., models.Model]  # (project, owner) -> a queued row
    reap: Callable[[], dict[str, list[int]]]  # the app's reaper, as settings.ANNOTUNE_REAPERS runs it
    lost_code: str | None = None  # error_code of a row failed after its last attempt, where the row has one

    def __str__(self) -> str:
        return self.model.__name__


def base_model() -> BaseModel:
    return BaseModel.objects.get_or_create(name="tiny", source="/models/tiny")[0]


def training_job(project, owner) -> TrainingJob:
    from django.conf import settings

    base = base_model()
    return TrainingJob.objects.create(
        project=project,
        base_model=base,
        train_path="training/x/train.jsonl",
        dataset_sha256="0" * 64,
        method="lora",
        config={"rank": 4},
        created_by=owner,
        max_attempts=settings.TRAINING_MAX_ATTEMPTS,  # as a launch records it
    )


KINDS = [
    Kind(
        ImportJob,
        lambda project, owner: ImportJob.objects.create(
            project=project, created_by=owner, file="imports/x.jsonl", original_name="x.jsonl"
        ),
        reap_imports,
    ),
    Kind(
        VersionBuild, lambda project, owner: VersionBuild.objects.create(project=project, created_by=owner), reap_builds
    ),
    Kind(
        ValidationRun, lambda project, owner: ValidationRun.objects.create(project=project, created_by=owner), reap_runs
    ),
    Kind(
        DraftBatch,
        lambda project, owner: DraftBatch.objects.create(project=project, created_by=owner, adapter_name="Base model"),
        reap_batches,
    ),
    Kind(TrainingJob, training_job, reap_stale_jobs, "worker_lost"),
    Kind(
        AdapterOperation,
        lambda project, owner: AdapterOperation.objects.create(project=project, kind="merge", created_by=owner),
        reap_operations,
        "worker_lost",
    ),
]


# Reaped by failing at once: a generation request's caller stopped waiting; an evaluation is created again.
FAILED_AT_ONCE = [
    Kind(
        GenerationRequest,
        lambda project, owner: GenerationRequest.objects.create(
            project=project, base_model=base_model(), messages=[], created_by=owner
        ),
        lambda: {"failed": reap_generations()["stale"]},
        "worker_lost",
    ),
    Kind(
        Evaluation,
        lambda project, owner: Evaluation.objects.create(
            project=project, name="Blind", base_model=base_model(), prompt_source="pasted", created_by=owner
        ),
        lambda: {"failed": reap_evaluations()["evaluations_failed"]},
        "worker_lost",
    ),
]


@pytest.mark.parametrize("kind", KINDS + FAILED_AT_ONCE, ids=str)
def test_a_work_row_is_claimed_once(kind, project, owner):
    row = kind.create(project, owner)
    assert row.is_active
    assert not row.is_done
    mine = work.claim(kind.model, row.pk)
    assert mine is not None
    assert work.claim(kind.model, row.pk) is None  # a second delivery of its message: nothing to do
    assert mine.count() == 1  # the claimed row, fenced to attempt 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("running", 1)
    assert row.started_at is not None
    assert row.heartbeat_at is not None


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_the_reaper_requeues_a_row_whose_worker_died_then_fails_it_after_the_last_attempt(
    kind, project, owner, settings, django_capture_on_commit_callbacks
):
    limit = settings.ANNOTUNE_JOB_MAX_ATTEMPTS
    assert settings.TRAINING_MAX_ATTEMPTS == limit  # training jobs take the same limit by default
    row = kind.create(project, owner)
    alive = kind.create(project, owner)  # claimed and beating: never taken back
    for attempt in range(1, limit + 1):
        mine = work.claim(kind.model, row.pk)
        assert mine is not None
        if attempt == 1:
            assert work.claim(kind.model, alive.pk) is not None
        kind.model._default_manager.filter(pk=alive.pk).update(heartbeat_at=timezone.now())
        # Its worker died: no heartbeat for an hour, longer than any app's stale time.
        mine.update(heartbeat_at=timezone.now() - timedelta(hours=1))
        with django_capture_on_commit_callbacks(execute=False) as sent:
            reaped = kind.reap()
        row.refresh_from_db()
        if attempt < limit:
            assert (reaped["requeued"], reaped["failed"]) == ([row.pk], [])
            assert len(sent) == 1  # its task, sent again once the re-queue committed
            assert (row.status, row.attempts) == ("queued", attempt)
            assert row.is_active
        else:
            assert (reaped["requeued"], reaped["failed"]) == ([], [row.pk])
            assert sent == []
            assert (row.status, row.attempts) == ("failed", limit)
            assert row.is_done
            assert not row.is_active
            assert "stopped reporting" in row.error
            assert row.finished_at is not None
            if kind.lost_code:
                assert row.error_code == kind.lost_code
    # A late write of the last attempt's worker lands nowhere; the live row kept running throughout.
    assert work.fenced(kind.model, row.pk, limit).update(heartbeat_at=timezone.now()) == 0
    assert kind.model._default_manager.get(pk=alive.pk).status == "running"


@pytest.mark.parametrize("kind", FAILED_AT_ONCE, ids=str)
def test_a_row_never_queued_again_fails_when_its_worker_died_and_its_late_write_lands_nowhere(kind, project, owner):
    row = kind.create(project, owner)
    alive = kind.create(project, owner)  # claimed and beating: never taken back
    mine = work.claim(kind.model, row.pk)
    assert mine is not None
    assert work.claim(kind.model, alive.pk) is not None
    kind.model._default_manager.filter(pk=alive.pk).update(heartbeat_at=timezone.now())
    mine.update(heartbeat_at=timezone.now() - timedelta(hours=1))  # its worker died

    assert kind.reap() == {"failed": [row.pk]}

    row.refresh_from_db()
    assert (row.status, row.attempts, row.error_code) == ("failed", 1, kind.lost_code)
    assert row.is_done
    assert not row.is_active
    assert row.finished_at is not None
    # The dead worker's late final write lands nowhere, and a late second message takes nothing.
    assert mine.update(status="succeeded", error="") == 0
    assert work.claim(kind.model, row.pk) is None
    assert kind.reap() == {"failed": []}  # once
    assert kind.model._default_manager.get(pk=alive.pk).status == "running"
