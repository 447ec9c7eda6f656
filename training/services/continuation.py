"""Continue training: a job that starts from an existing adapter's weights (on the same or a newer
dataset version). The web side checks the launch against the parent; the worker side copies the
parent's PEFT files next to the job's data and records the parent in the new adapter's lineage."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from annotation.models import Project
from annotune.errors import ApplicationError
from annotune.storage import copy_to_local
from serving.models import Adapter

from ..models import BaseModel, TrainingJob
from .folders import list_files

# What fixes the shape of the adapter's weights (and how they are scaled): taken from the parent.
SHAPE_FIELDS = ("method", "rank", "alpha", "use_rslora", "target_modules")
INIT_FOLDER = "init_adapter"


def parent_shape(parent: Adapter) -> dict[str, Any]:
    """The parent's method, rank, alpha, rsLoRA flag and targets; refuses adapters no job trained."""
    config = (parent.lineage or {}).get("config")
    if parent.job_id is None or not isinstance(config, dict) or (parent.lineage or {}).get("combination"):
        raise ApplicationError(
            f"“{parent.name}” was not trained by a job (combined or imported): training cannot continue from it.",
            {"parent_adapter": ["Choose an adapter trained by a job of this project."]},
        )
    return {key: config[key] for key in SHAPE_FIELDS if key in config}


def continue_from(
    *,
    project: Project,
    parent: Adapter,
    base_model: BaseModel | None,
    config: dict[str, Any] | None,
    dataset_version: Any,
) -> tuple[BaseModel, dict[str, Any]]:
    """The base model and config overrides of a job continuing `parent`.

    The parent's shape fields are added to the overrides; an override that contradicts them, another
    base model, another project's adapter or a dataset version older than the parent's is refused.
    """
    if parent.project_id != project.pk:
        raise ApplicationError(
            "That adapter belongs to another project.", {"parent_adapter": ["Choose an adapter of this project."]}
        )
    shape = parent_shape(parent)
    if isinstance(config, dict) and config.get("method") == "dpo":
        # Preference training keeps the parent's weights' shape; its method is dpo, whatever the parent's was.
        shape.pop("method", None)
    if base_model is not None and base_model.pk != parent.base_model_id:
        raise ApplicationError(
            f"“{parent.name}” was trained on {parent.base_model.name}: continuing it needs the same base model.",
            {"base_model": [f"Leave it out or choose {parent.base_model.name}."]},
        )
    overrides = {} if config is None else dict(config) if isinstance(config, dict) else config
    if isinstance(overrides, dict):
        conflicts = {
            key: [f"must stay {shape[key]!r}, as in the adapter training continues from"]
            for key in shape
            if key in overrides and overrides[key] != shape[key]
        }
        if conflicts:
            raise ApplicationError(
                "Continuing an adapter keeps its shape: " + ", ".join(sorted(conflicts)) + " cannot change.",
                conflicts,
            )
        overrides = {**overrides, **shape}
    parent_version = ((parent.lineage or {}).get("dataset_version") or {}).get("number")
    if dataset_version is not None and parent_version and dataset_version.number < parent_version:
        raise ApplicationError(
            f"“{parent.name}” was trained on dataset version {parent_version}: continue it on that version or a "
            "newer one.",
            {"dataset_version": [f"Choose version {parent_version} or newer."]},
        )
    return parent.base_model, overrides


def parent_adapter_dir(job: TrainingJob, folder: Path) -> str | None:
    """Worker: copy the parent adapter's files from storage into `folder/init_adapter`; None without a parent."""
    parent = job.parent_adapter
    if parent is None:
        return None
    target = Path(folder) / INIT_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    for relative in list_files(parent.storage_path):
        copy_to_local(f"{parent.storage_path}/{relative}", target / relative)
    return str(target)


def parent_method(job: TrainingJob) -> str | None:
    """How the base was loaded under the adapter a job continues from: the method that trained it, or for a
    DPO adapter that of the adapter at the start of its line ("qlora": 4-bit). None without a parent."""
    adapter, seen = job.parent_adapter, set()
    while adapter is not None and adapter.pk not in seen:
        seen.add(adapter.pk)
        method = adapter.method or (adapter.lineage or {}).get("method") or ""
        if method != "dpo":
            return method or None
        adapter = adapter.job.parent_adapter if adapter.job_id else None
    return None


def parent_lineage(job: TrainingJob) -> dict[str, Any] | None:
    """What the new adapter's lineage records of the adapter its training started from."""
    parent = job.parent_adapter
    if parent is None:
        return None
    return {
        "id": parent.pk,
        "name": parent.name,
        "job_id": parent.job_id,
        "dataset_version": (parent.lineage or {}).get("dataset_version"),
        "dataset_sha256": (parent.lineage or {}).get("dataset_sha256"),
    }
