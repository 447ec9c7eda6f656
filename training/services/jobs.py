"""Launch, cancel and reap training jobs (the web side and the periodic reaper, on annotune/work.py).

A job always trains on a dataset version. A launch without one takes the project's latest; a project
with approved examples and no version yet (a new user's first Train click) gets its first version made
by the launch, through the versions service, in the launch's transaction; a project too large for a
version made in a request is sent to the versions page instead (its version is built by a worker).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, DateTimeField, F, Q, TextField, Value, When
from django.utils import timezone

from annotation import permissions
from annotation.models import Example, ExampleStatus, Project
from annotune import dispatch, work
from annotune.errors import ApplicationError
from curated_data.models import DatasetVersion
from curated_data.services import versions
from serving.models import Adapter

from ..models import BaseModel, JobPhase, JobStatus, Sweep, TrainingJob
from . import preference_data, quotas
from .launch_plan import DEFAULT_PRESET, JobSpec, job_spec

log = logging.getLogger(__name__)

NO_VERSION = (
    "Create a dataset version first: training reads only dataset versions "
    "(a version snapshots the approved examples with a fixed train / validation split)."
)
NO_APPROVED = "There are no approved examples to train on yet: approve some examples first."


def too_large_for_launch() -> str:
    return (
        f"This project has more than {settings.ANNOTUNE_VERSION_INLINE_MAX:,} approved examples, so its first "
        "dataset version is built by a worker: create it on the versions page, then train on it."
    )


@dataclass(frozen=True)
class Launch:
    job: TrainingJob
    version_created: bool  # the launch made the version it trains on (the project had none)

    @property
    def note(self) -> str:
        """What the user is told about the version the launch made ("" when it made none)."""
        version = self.job.dataset_version
        if not self.version_created or version is None:
            return ""
        return f"Version {version.number} was created from the {version.example_count} approved examples."


def version_data(project: Project, dataset_version: DatasetVersion) -> dict[str, Any]:
    """The job fields that record the version it trains on; refuses another project's or an empty version."""
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


def _first_version(project: Project, user) -> DatasetVersion:
    """The version a launch makes for a project without one (inside the launch's transaction)."""
    if not Example.objects.filter(project=project, status=ExampleStatus.APPROVED).exists():
        raise ApplicationError(NO_APPROVED, {"dataset": ["The project has no approved examples."]})
    if not versions.builds_inline(project):
        raise ApplicationError(too_large_for_launch(), {"dataset_version": ["Create a version first."]})
    try:
        made = versions.version_request(project=project, user=user)
    except ApplicationError as exc:  # the dataset checks found errors: an owner decides on the versions page
        raise ApplicationError(
            f"A dataset version could not be created for this launch: {exc.message}",
            {"dataset_version": ["Create a version on the versions page."]},
        ) from exc
    if not isinstance(made, DatasetVersion):  # approved examples arrived meanwhile, past the inline limit
        raise ApplicationError(too_large_for_launch(), {"dataset_version": ["Create a version first."]})
    return made


def latest_version(project: Project) -> DatasetVersion | None:
    """The project's newest dataset version, or None."""
    return DatasetVersion.objects.filter(project=project).order_by("-number").first()


def job_launch_latest(*, project: Project, user, preset: str = DEFAULT_PRESET) -> Launch:
    """One click: the project's latest dataset version (the first one, made now, when it has none), its base
    model and the (balanced) preset.

    Refuses, in this order: non-owners, a project without a base model, a project without approved examples,
    a project without a version that is too large to make one in a request (the error's extra names
    `dataset_version` so pages can link to the versions page).
    """
    permissions.require(permissions.can_train(user, project), "Only project owners can train adapters.")
    return job_start(project=project, user=user, preset=preset)


def job_launch(**arguments: Any) -> TrainingJob:
    """`job_start`, for callers that need only the job."""
    return job_start(**arguments).job


def job_start(
    *,
    project: Project,
    user,
    config: dict[str, Any] | None = None,
    preset: str | None = None,
    dataset_version: DatasetVersion | None = None,
    base_model: BaseModel | None = None,
    parent_adapter: Adapter | None = None,
) -> Launch:
    """Validate, plan, create the job row and send it once committed: to its training queue when its estimate
    is kept, else to the default queue's estimate (the job waits "estimating"; training/services/estimating.py).

    `preset` gives the starting values (balanced when neither preset nor config is given); `config`
    overrides single fields; no `dataset_version`: the latest (the first, made now, when there is none).
    Refuses: non-owners, a project without a base model, an invalid configuration, no approved examples, a
    job whose memory estimate clearly exceeds the device, and (429) a job beyond the caps on queued jobs per
    person and per project (`quotas.training_admit`). `parent_adapter` (continue training): the job starts
    from that adapter's weights, so it takes the adapter's base model and shape (method, rank, alpha, targets).
    A refused launch changes nothing (a version made for it is rolled back with it).
    """
    permissions.require(permissions.can_train(user, project), "Only project owners can train adapters.")
    spec = job_spec(
        project=project,
        preset=preset,
        config=config,
        base_model=base_model,
        parent_adapter=parent_adapter,
        dataset_version=dataset_version,
    )
    if spec.refusal:
        raise ApplicationError(spec.refusal, {"config": [spec.refusal]})
    with transaction.atomic():
        version = dataset_version or latest_version(project)
        made = version is None
        version = _first_version(project, user) if version is None else version
        quotas.training_admit(user=user, project=project)  # 429 beyond the queued-job caps
        dpo = spec.config["method"] == "dpo"
        pairs = preference_data.version_records(version) if dpo else None
        job = job_create(project=project, user=user, spec=spec, data=version_data(project, version))
        if pairs is not None:  # last in the transaction: a failed write rolls the job back (and sends nothing)
            preference_data.write_for_job(job, pairs)
    log.info("training job %s launched by %s for project %s", job.pk, user, project.pk)
    return Launch(job, made)


def job_create(
    *, project: Project, user, spec: JobSpec, data: dict[str, Any], sweep: Sweep | None = None
) -> TrainingJob:
    """The job row of a planned launch (in the caller's transaction), sent once committed: placed, to its
    training queue; not estimated yet, to the default queue's estimate."""
    placement = spec.placement
    fields: dict[str, Any] = {"phase": JobPhase.ESTIMATING, "queue": ""}
    if placement is not None:
        needs = placement.needs
        fields = {"device_type": needs.device_type, "devices": needs.devices, "memory_mb": needs.memory_mb}
        fields["queue"] = placement.queue
    job = TrainingJob.objects.create(
        project=project,
        base_model=spec.base_model,
        method=spec.config["method"],
        method_fixed=spec.method_fixed,
        preset=spec.preset,
        config=spec.config,
        estimate=spec.estimate or {},
        created_by=user,
        max_attempts=settings.TRAINING_MAX_ATTEMPTS,
        parent_adapter=spec.parent_adapter,
        sweep=sweep,
        **fields,
        **data,
    )
    if placement is None:
        from ..tasks import estimate_training_job

        dispatch.send_on_commit(estimate_training_job, job.pk)
    else:
        job_send_on_commit(job.pk)
    return job


def job_send_on_commit(job_id: int) -> None:
    """Send a placed job to its training queue once the transaction commits."""
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
    from ..tasks import estimate_training_job, run_training_job

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
        send=job_send_on_commit,
        queue=None,  # each job waits in the queue of its device class
        ready=~Q(phase=JobPhase.ESTIMATING),
    )
    # A job still being estimated waits for its estimate task (default queue); a duplicate finds it placed.
    estimating = TrainingJob.objects.filter(status=JobStatus.QUEUED, phase=JobPhase.ESTIMATING)
    after = settings.ANNOTUNE_REDISPATCH_AFTER_SECONDS
    reaped["resent"] += dispatch.resend_lost(estimating, estimate_training_job, queue="default", older_than=after)
    # Sent again: the note that the broker was down no longer holds.
    TrainingJob.objects.filter(pk__in=reaped["resent"], error=dispatch.BROKER_DOWN_NOTE).update(error="")
    return {**reaped, "cancelled": cancelled}
