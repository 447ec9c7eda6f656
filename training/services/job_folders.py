"""Where a training job's files go on a worker node, how its data comes there, and the environment its
engine processes run in: the same for the node that claimed the job (execution) and its peers (peers)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from annotune.storage import copy_to_local

from ..models import TrainingJob


def work_dir(job: TrainingJob) -> Path:
    return Path(settings.TRAINING_WORK_DIR) / f"job-{job.pk}"


def download_to(storage_path: str, target: Path) -> str:
    return str(copy_to_local(storage_path, target))


def child_environment(processes: int = 1) -> dict[str, str]:
    """The engine processes' environment: offline, and torch's thread count (the cores left beside the web and
    the database, shared between the processes of a multi-process CPU run)."""
    from ..engine.devices import torch_threads

    threads = str(max(torch_threads(settings.TRAINING_TORCH_THREADS) // max(processes, 1), 1))
    return {
        "HF_HUB_OFFLINE": "1" if settings.TRAINING_HF_OFFLINE else "0",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
