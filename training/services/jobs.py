"""Launch, cancel and reap training jobs (the web side and the periodic reaper, on annotune/work.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, DateTimeField, F, Q, TextField, Value, When
from django.utils import timezone

from annotation import permissions
from annotation.models import Project
from annotune import dispatch, work
from annotune.errors import ApplicationError

from ..engine.config import PRESETS
from ..models import Adapter, BaseModel, JobStatus, Sweep, TrainingJob
from . import continuation, quotas
from . import datasets as job_data
from .configs import resolve_config
from .launch_plan import plan_launch

log = logging.getLogger(__name__)

DEFAULT_PRESET = "balanced"


def method_named(preset: str | None, config: dict[str, Any] | None) -> bool:
    """Whether the launch names its method (the user's fields, or the preset); otherwise the launch plan picks
    it for the device the job runs on."""
    named = "method" in (PRESETS.get(preset or "") or {})
    return named or (isinstance(config, dict) and "method" in config)


def _data_for_launch(project: Project, dataset_version: Any) -> dict[str, Any]:
    if dataset_version is not None:
        if dataset_version.project_id != project.pk:
            raise ApplicationError(
                "That dataset version belongs to another project.",
                {"dataset_version": ["Choose a version of this project."]},
            )
        if not dataset_version.train_count:
            raise ApplicationError(
                "This dataset version has no training examples.", {"dataset_version": ["Nothing to train on."]}
            )
        return {
            "dataset_version": dataset_version,
            "train_path": dataset_version.train_path,
            "validation_path": dataset_version.validation_path if dataset_version.validation_count else "",
            "dataset_sha256": dataset_version.sha256,
            "train_examples": dataset_version.train_count,
            "validation_examples": dataset_version.validation_count,
        }
    snapshot = job_data.snapshot_approved(project)
    if not snapshot.train:
        raise ApplicationError(
            "There are no approved examples to train on yet: approve some examples first.",
            {"dataset": ["The project has no approved examples."]},
        )
    return {"snapshot": snapshot}


def _base_model_for(project: Project, base_model: BaseModel | None) -> BaseModel:
    base_model = base_model or project.base_model
    if base_model is None:
        raise ApplicationError(
            "Choose a base model for this project before training.", {"base_model": ["No base model chosen."]}
        )
    return base_model


NO_VERSION = (
    "Create a dataset version first: training reads only dataset versions "
    "(a version snapshots the approved examples with a fixed train / validation split)."
)


def latest_version(project: Project) -> Any:
    """The project's newest dataset version, or None."""
    from curated_data.models import DatasetVersion

    return DatasetVersion.objects.filter(project=project).order_by("-number").first()


def job_launch_latest(*, project: Project, user, preset: str = DEFAULT_PRESET) -> TrainingJob:
    """One click: the project's latest dataset version, its base model and the (balanced) preset.

    Refuses, in this order: non-owners, a project without a base model, a project without a version
    (the error's extra names `dataset_version` so pages can link to the versions page).
    """
    permissions.require(permissions.can_train(user, project), "Only project owners can train adapters.")
    _base_model_for(project, None)
    version = latest_version(project)
    if version is None:
        raise ApplicationError(NO_VERSION, {"dataset_version": ["The project has no dataset version yet."]})
    return job_launch(project=project, user=user, preset=preset, dataset_version=version)


def job_launch(
    *,
    project: Project,
    user,
    config: dict[str, Any] | None = None,
    preset: str | None = None,
    dataset_version: Any = None,
    base_model: BaseModel | None = None,
    parent_adapter: Adapter | None = None,
    sweep: Sweep | None = None,
) -> TrainingJob:
    """Validate, estimate, create the job row and enqueue it on the `training` queue once committed.

    `preset` gives the starting values (balanced when neither preset nor config is given); `config`
    overrides single fields. Refuses: non-owners, a project without a base model, an invalid
    configuration, an empty dataset, a job whose memory estimate clearly exceeds the device, and (429) a
    job beyond the caps on queued jobs per person and per project (`quotas.training_admit`).
    `parent_adapter` (continue training): the job starts from that adapter's weights, so it takes the
    adapter's base model and shape (method, rank, alpha, targets); `sweep`: the rank sweep it belongs to.
    """
    permissions.require(permissions.can_train(user, project), "Only project owners can train adapters.")
    if preset is None and config is None:
        preset = DEFAULT_PRESET
    if parent_adapter is not None:
        base_model, config = continuation.continue_from(
            project=project,
            parent=parent_adapter,
            base_model=base_model,
            config=config,
            dataset_version=dataset_version,
        )
    base_model = _base_model_for(project, base_model)
    if preset is None and config is None:
        preset = DEFAULT_PRESET
    full_config = resolve_config(preset=preset, config=config)
    data = _data_for_launch(project, dataset_version)
    plan = plan_launch(
        base_model=base_model,
        config=full_config,
        method_fixed=parent_adapter is not None or method_named(preset, config),
    )
    if plan.refusal:
        raise ApplicationError(plan.refusal, {"config": [plan.refusal]})
    full_config, estimate, placement = plan.config, plan.estimate, plan.placement

    snapshot = data.pop("snapshot", None)
    with transaction.atomic():
        quotas.training_admit(user=user, project=project)  # 429 beyond the queued-job caps
        job = TrainingJob.objects.create(
            project=project,
            base_model=base_model,
            method=full_config["method"],
            preset=preset or "",
            config=full_config,
            estimate=estimate,
            created_by=user,
            max_attempts=settings.TRAINING_MAX_ATTEMPTS,
            parent_adapter=parent_adapter,
            sweep=sweep,
            device_type=placement.needs.device_type,
            devices=placement.needs.devices,
            memory_mb=placement.needs.memory_mb,
            queue=placement.queue,
            **data,
        )
        if snapshot is not None:
            train_path, validation_path = job_data.save_snapshot(snapshot, f"training/jobs/{job.pk}/data")
            job.train_path, job.validation_path = train_path, validation_path
            job.dataset_sha256 = snapshot.sha256
            job.train_examples, job.validation_examples = len(snapshot.train), len(snapshot.validation)
            job.save(
                update_fields=[
                    "train_path",
                    "validation_path",
                    "dataset_sha256",
                    "train_examples",
                    "validation_examples",
                ]
            )
        _enqueue_on_commit(job.pk)
    log.info("training job %s launched by %s for project %s", job.pk, user, project.pk)
    return job


def _enqueue_on_commit(job_id: int) -> None:
    from ..tasks import run_training_job

    dispatch.send_on_commit(run_training_job, job_id, on_failure=lambda: _note_broker_down(job_id))


def _note_broker_down(job_id: int) -> None:
    """The job stays queued (the reaper sends it again); its page says why it waits."""
    TrainingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(error=dispatch.BROKER_DOWN_NOTE)


def job_cancel(*, job: TrainingJob, user) -> TrainingJob:
    """Queued: cancelled at once. Running: the flag is set; the worker stops the engine cooperatively.

    One statement decides on the status the row has when it runs: a job claimed, finished or re-queued
    by the reaper between a read and a write is still answered by what it is then."""
    permissions.require(permissions.can_train(user, job.project), "Only project owners can cancel training.")
    queued = Q(status=JobStatus.QUEUED)
    changed = TrainingJob.objects.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        cancel_requested=True,
        status=Case(When(queued, then=Value(JobStatus.CANCELLED)), default=F("status"), output_field=CharField()),
        finished_at=Case(
            When(queued, then=Value(timezone.now())), default=F("finished_at"), output_field=DateTimeField()
        ),
        error=Case(
            When(queued, then=Value("Cancelled before it started.")), default=F("error"), output_field=TextField()
        ),
    )
    job.refresh_from_db()
    if not changed:
        raise ApplicationError(f"This job has already finished ({job.get_status_display().lower()}).")
    return job


def reap_stale_jobs(*, stale_after: float | None = None) -> dict[str, list[int]]:
    """Running jobs whose heartbeat stopped are re-queued (`work.reap_stale`: they resume from their last
    checkpoint) or, after their last attempt (`max_attempts`), failed with the reason; one whose owner asked
    to cancel it ends cancelled. Queued jobs whose message the broker lost are sent again, to their own
    queue. Returns the ids of each."""
    from ..tasks import run_training_job

    stale_after = settings.TRAINING_STALE_AFTER_SECONDS if stale_after is None else stale_after
    # Cancelled while its worker was dying: ended, with no new attempt (conditional on the row still silent,
    # as every write of the reaper).
    stopping, cancelled = work.silent(TrainingJob, stale_after).filter(cancel_requested=True), []
    for pk in stopping.values_list("pk", flat=True):
        if stopping.filter(pk=pk).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now(), error="The worker stopped reporting; cancelled."
        ):
            cancelled.append(pk)
    reaped = work.reap_stale(
        TrainingJob,
        task=run_training_job,
        stale_after=stale_after,
        what="training job",
        requeued=lambda reason: {"error": f"{reason}; re-queued to resume from its last checkpoint."},
        failed=lambda reason, limit: {"error_code": "worker_lost", "error": f"{reason} of {limit}; giving up."},
        send=_enqueue_on_commit,
        queue=None,  # each job waits in the queue of its device class
    )
    # Sent again: the note that the broker was down no longer holds.
    TrainingJob.objects.filter(pk__in=reaped["resent"], error=dispatch.BROKER_DOWN_NOTE).update(error="")
    return {**reaped, "cancelled": cancelled}
