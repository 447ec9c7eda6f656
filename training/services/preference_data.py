"""A DPO job's preference pairs: written to storage in the job's folder at launch, copied next to the job's
data by the worker.

The pairs are in TRL's conversational preference format (training/engine/preference_pairs.py). A record
may carry `"split": "validation"`: those go to `preferences_validation.jsonl`, the held-out pairs preference
accuracy is measured on (without any, the engine holds out a share of the training pairs). A launch takes
them from the `preferences.jsonl` a dataset version writes next to its files: the project's corrected drafts
among the version's examples, each with its example's split (`curated_data.services.versions.preference_lines`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from annotune.errors import ApplicationError
from annotune.storage import ArtifactWriter, open_stream, storage_failures, storage_reason

from ..engine.errors import DataError
from ..engine.preference_pairs import check_pair
from ..models import TrainingJob
from .job_folders import download_to

PREFERENCES = "preferences.jsonl"
PREFERENCES_VALIDATION = "preferences_validation.jsonl"
NO_PAIRS = "This project has no preference pairs yet: correct some drafts first"


def job_folder(job: TrainingJob) -> str:
    """The storage folder of a job's preference files."""
    return f"preferences/job-{job.pk}"


def checked(records: Iterable[Any]) -> list[dict[str, Any]]:
    """The records as pairs (each keeping a "split" of "validation" when it had one); ApplicationError saying
    which record is wrong, or that there are none."""
    pairs = []
    for n, record in enumerate(records, 1):
        try:
            pair = check_pair(record, n)
        except DataError as exc:
            raise ApplicationError(
                f"The preference pairs are invalid: {exc.message}", {"preferences": [exc.message]}
            ) from exc
        if isinstance(record, dict) and record.get("split") == "validation":
            pair["split"] = "validation"
        pairs.append(pair)
    if not pairs:
        raise ApplicationError(NO_PAIRS, {"preferences": [NO_PAIRS]})
    return pairs


def write_for_job(job: TrainingJob, records: Iterable[Any]) -> dict[str, str]:
    """Check `records` and store them in the job's folder: `preferences.jsonl`, and `preferences_validation.jsonl`
    for those marked "validation". Returns the storage paths written, by name. Refuses invalid or no records
    (ApplicationError) and, when the storage fails, deletes what it wrote (StorageError)."""
    pairs = checked(records)
    parts: dict[str, list[dict[str, Any]]] = {PREFERENCES: [], PREFERENCES_VALIDATION: []}
    for pair in pairs:
        name = PREFERENCES_VALIDATION if pair.pop("split", "") == "validation" else PREFERENCES
        parts[name].append(pair)
    if not parts[PREFERENCES]:
        message = "Every preference pair is marked for validation: none is left to train on."
        raise ApplicationError(message, {"preferences": [message]})
    written: dict[str, str] = {}
    with ArtifactWriter("the preference pairs") as writer:
        for name, rows in parts.items():
            if rows:
                text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                written[name] = writer.save(f"{job_folder(job)}/{name}", io.BytesIO(text.encode("utf-8")))
    return written


def version_records(version: Any) -> list[dict[str, Any]]:
    """The pairs stored next to a dataset version's files (`preferences.jsonl`); refuses when there are none."""
    path = f"{version.train_path.rsplit('/', 1)[0]}/{PREFERENCES}"
    try:
        if not default_storage.exists(path):
            raise ApplicationError(NO_PAIRS, {"preferences": [NO_PAIRS]})
        with open_stream(path) as handle:
            lines = handle.read().decode("utf-8").splitlines()
    except storage_failures() as exc:
        raise ApplicationError(f"The preference pairs could not be read: {storage_reason(exc)}.") from exc
    records = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                message = f"{PREFERENCES} line {n} is not valid JSON."
                raise ApplicationError(message, {"preferences": [message]}) from exc
    return checked(records)


def download_for_job(job: TrainingJob, data_dir: Path) -> dict[str, str | None]:
    """Worker: the job's preference files copied into `data_dir`, as the engine spec's fields."""
    folder = job_folder(job)
    validation = f"{folder}/{PREFERENCES_VALIDATION}"
    return {
        "preference_examples": download_to(f"{folder}/{PREFERENCES}", data_dir / PREFERENCES),
        "preference_validation": download_to(validation, data_dir / PREFERENCES_VALIDATION)
        if default_storage.exists(validation)
        else None,
    }
