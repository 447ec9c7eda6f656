"""Reads of training workers and of the jobs waiting for them (the launch form and the queue page)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Case, Count, QuerySet, When

from annotune.heartbeat import silent_since

from ..models import JobPhase, JobStatus, TrainingJob, TrainingWorker
from ..processes.routing import Capacity


def capacity_of(worker: TrainingWorker) -> Capacity:
    return Capacity(
        device_type=worker.device_type,
        devices=worker.devices,
        memory_mb=worker.memory_mb,
        methods=tuple(worker.methods or ()),
        device_names=tuple(worker.device_names or ()),
    )


def with_liveness(workers: QuerySet[TrainingWorker]) -> QuerySet[TrainingWorker]:
    """`live` on each worker: not stopped, and its heartbeat is recent (it beats every
    TRAINING_WORKER_HEARTBEAT_SECONDS), by the database's clock, which the heartbeats are written with
    (annotune/heartbeat.py): a worker whose clock differs from the web's is not taken for dead."""
    fresh = silent_since(3 * settings.TRAINING_WORKER_HEARTBEAT_SECONDS)
    return workers.annotate(live=Case(When(stopped_at__isnull=True, heartbeat_at__gte=fresh, then=True), default=False))


@dataclass
class WorkerRow:
    worker: TrainingWorker
    capacity: Capacity
    live: bool
    running: list[TrainingJob]


def worker_list() -> list[WorkerRow]:
    """Every advertised worker with the jobs it runs now (two queries)."""
    workers = list(with_liveness(TrainingWorker.objects.all()))
    running: dict[str, list[TrainingJob]] = {}
    for job in active_jobs().filter(status=JobStatus.RUNNING):
        running.setdefault(job.worker, []).append(job)
    return [WorkerRow(w, capacity_of(w), w.live, running.get(w.name, [])) for w in workers]


def waiting_by_queue() -> dict[str, int]:
    """Queued jobs per queue."""
    rows = TrainingJob.objects.filter(status=JobStatus.QUEUED).values("queue").annotate(n=Count("id"))
    return {row["queue"]: row["n"] for row in rows}


def active_jobs() -> QuerySet[TrainingJob]:
    """Queued and running jobs of every project, oldest first (the order workers take them in)."""
    return (
        TrainingJob.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
        .select_related("project", "base_model")
        .only(
            "id",
            "status",
            "queue",
            "device_type",
            "devices",
            "memory_mb",
            "worker",
            "step",
            "max_steps",
            "method",
            "created_at",
            "started_at",
            "project__id",
            "project__name",
            "base_model__id",
            "base_model__name",
        )  # fmt: skip
        .order_by("id")
    )


@dataclass
class QueuedJobRow:
    job: TrainingJob
    visible: bool  # the viewer is a member of the job's project (else its name stays hidden)


def queue_page(user) -> dict[str, list]:
    """The queue page: every advertised worker (with what it runs) and every waiting or running job.

    Jobs of projects the viewer is not a member of are listed without their project (how busy the
    workers are is everyone's business; what others train is not)."""
    from annotation.models import Membership

    mine = set(Membership.objects.filter(user_id=user.pk).values_list("project_id", flat=True))
    jobs = list(active_jobs())
    return {
        "workers": worker_list(),
        "running": [QueuedJobRow(j, user.is_superuser or j.project_id in mine) for j in jobs if j.status == "running"],
        "waiting": [QueuedJobRow(j, user.is_superuser or j.project_id in mine) for j in jobs if j.status == "queued"],
    }


def waiting_note(job: TrainingJob) -> str:
    """Why a queued job has not started, in words: its place on its queue and what runs there now.

    Workers take jobs of a queue oldest first, so the jobs ahead are the older queued ones on the same
    queue; a queue no live worker consumes is said so (the job waits for one to start)."""
    if job.status != JobStatus.QUEUED:
        return ""
    if job.phase == JobPhase.ESTIMATING:
        return (
            "Estimating the memory this job needs (seconds, once per base model and settings); then it goes to "
            "the queue of a worker that can take it."
        )
    ahead = jobs_ahead(job)
    running = TrainingJob.objects.filter(queue=job.queue, status=JobStatus.RUNNING).count()
    consumers = [w for w in with_liveness(TrainingWorker.objects.all()) if w.live and job.queue in (w.queues or [])]
    if ahead == 0 and running == 0:
        place = "Next in line"
    else:
        queued = f"{ahead} queued job{'' if ahead == 1 else 's'} ahead of it" if ahead else "no queued job ahead"
        place = f"Waiting: {queued}, {running} running on its queue"
    if not consumers:
        return f"{place}. No live worker takes this queue now: the job starts when one does (see the training queue)."
    workers = f"{len(consumers)} worker{'' if len(consumers) == 1 else 's'}"
    return f"{place}; {workers} take{'s' if len(consumers) == 1 else ''} this queue."


def jobs_ahead(job: TrainingJob) -> int:
    """Queued jobs a worker of the job's queue takes before it (the older ones: oldest first)."""
    return TrainingJob.objects.filter(queue=job.queue, status=JobStatus.QUEUED, pk__lt=job.pk).count()


def place_in_line(job: TrainingJob) -> str:
    """A queued job's place in a few words ("next in line", "3 ahead"); "" once it left the queue."""
    if job.status != JobStatus.QUEUED:
        return ""
    if job.phase == JobPhase.ESTIMATING:
        return (
            "Estimating the memory this job needs (seconds, once per base model and settings); then it goes to "
            "the queue of a worker that can take it."
        )
    ahead = jobs_ahead(job)
    return "next in line" if ahead == 0 else f"{ahead} ahead on its queue"
