"""Jobs that span several machines: the main node's worker asks its peers to start their ranks.

Every node of a group runs `accelerate launch` with its own `accelerate config` file (same number of
machines, main process address and port, rendezvous; its own machine rank). The main node (machine
rank 0) runs an ordinary training worker that claims the job, reports and checkpoints; before it
launches, it sends `join_training_job(job_id, attempt)` to each peer named in ANNOTUNE_TRAINING_PEERS,
on the peer's own queue `training.peer.<name>`. The peer downloads the job's data, launches its share
of the ranks and watches the job row: when the attempt it joined is no longer running (finished,
cancelled, or re-queued after a rank died), it stops and, after the grace period, kills its ranks.
Rank 0 alone writes to the database; a peer writes nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from django.conf import settings

from annotune import work

from ..models import FINAL_STATUSES, TrainingJob
from ..processes import launcher
from .continuation import parent_adapter_dir
from .job_folders import child_environment, download_to, work_dir

log = logging.getLogger(__name__)


def peer_queue(name: str) -> str:
    return f"training.peer.{name}"


def ask_peers(job: TrainingJob, attempt: int) -> list[str]:
    """Send the join task to every configured peer; returns the queues it went to."""
    from ..tasks import join_training_job

    queues = [peer_queue(name) for name in settings.TRAINING_PEERS]
    for queue in queues:
        join_training_job.apply_async((job.pk, attempt), queue=queue)
    return queues


def _still_mine(job_id: int, attempt: int) -> bool:
    return work.fenced(TrainingJob, job_id, attempt).exists()


def job_join(job_id: int, attempt: int) -> str:
    """On a peer node: run this node's ranks of the job's attempt `attempt`. Returns what happened."""
    job = TrainingJob.objects.select_related("base_model").filter(pk=job_id).first()
    if job is None or not _still_mine(job_id, attempt):
        return "not-running"
    folder = work_dir(job)
    try:
        train = download_to(job.train_path, folder / "data" / "train.jsonl")
        validation = (
            download_to(job.validation_path, folder / "data" / "validation.jsonl") if job.validation_path else None
        )
    except OSError as exc:
        log.error("peer of training job %s: the dataset files could not be read (%s)", job_id, exc)
        return "failed"
    spec = {
        "base_model_path": job.base_model.source,
        "train_examples": train,
        "validation_examples": validation,
        "config": job.config,
        "output_dir": str(folder / "output"),
        "quantized_cache_dir": str(settings.TRAINING_QUANTIZED_DIR),
        "init_adapter_path": parent_adapter_dir(job, folder),
    }
    env = child_environment()
    if job.device_type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    outcome = launcher.run_launched(
        spec,
        num_processes=job.devices,
        run_dir=Path(folder) / "launch",
        config_file=settings.TRAINING_ACCELERATE_CONFIG or None,
        on_tick=lambda: not _still_mine(job_id, attempt),
        on_log=lambda line: log.info("peer of training job %s: %s", job_id, line),
        tick_seconds=settings.TRAINING_HEARTBEAT_SECONDS,
        kill_after=settings.TRAINING_CANCEL_GRACE_SECONDS,
        env=env,
        mmap_threshold=settings.TRAINING_MALLOC_MMAP_THRESHOLD,
    )
    log.info("peer of training job %s (attempt %s): ranks ended with exit code %s", job_id, attempt, outcome.exitcode)
    if outcome.exitcode == 0:
        # Rank 0 still evaluates and saves. The folder goes once the job has ended; a re-queued job
        # (a rank died later) needs its checkpoints here.
        while _still_mine(job_id, attempt):
            time.sleep(settings.TRAINING_HEARTBEAT_SECONDS)
    if TrainingJob.objects.filter(pk=job_id, status__in=FINAL_STATUSES).exists():
        shutil.rmtree(folder, ignore_errors=True)
    return "stopped" if outcome.stop_requested else ("done" if outcome.exitcode == 0 else "died")
