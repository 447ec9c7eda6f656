"""The data a job trains on: a dataset version's files, or a snapshot of the approved examples.

Until a dataset version is chosen, a launch snapshots the project's approved examples into the job's
storage folder as JSONL (train / validation), with a deterministic split and a sha256 of the content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.models import Example, ExampleStatus, Project

VALIDATION_FRACTION = 0.1
MIN_EXAMPLES_FOR_VALIDATION = 5


@dataclass(frozen=True)
class DataSnapshot:
    train: list[list[dict]]
    validation: list[list[dict]]
    sha256: str
    # Example ids in file order (what per-example scores map back to); not part of the hash.
    train_ids: tuple[int, ...] = ()
    validation_ids: tuple[int, ...] = ()

    @property
    def train_jsonl(self) -> bytes:
        return _jsonl(self.train)

    @property
    def validation_jsonl(self) -> bytes:
        return _jsonl(self.validation)


def _jsonl(conversations: list[list[dict]]) -> bytes:
    lines = (
        json.dumps({"messages": m}, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for m in conversations
    )
    return "".join(line + "\n" for line in lines).encode()


def snapshot_approved(project: Project) -> DataSnapshot:
    """Approved examples of the project, split deterministically by content hash.

    The order of a sha256 of each example's content hash decides the split, so the same approved
    pool always gives the same files (and the same dataset hash) whatever the row order.
    """
    rows = list(
        Example.objects.filter(project=project, status=ExampleStatus.APPROVED)
        .order_by("id")
        .values_list("content_hash", "messages", "id")
    )
    # Exact duplicates train once (as the latest row).
    unique = {content_hash: (messages, pk) for content_hash, messages, pk in rows}
    ordered = sorted(unique.items(), key=lambda item: hashlib.sha256(item[0].encode()).hexdigest())
    n_validation = 0
    if len(ordered) >= MIN_EXAMPLES_FOR_VALIDATION:
        n_validation = max(1, round(len(ordered) * VALIDATION_FRACTION))
    validation = [messages for _, (messages, _pk) in ordered[:n_validation]]
    train = [messages for _, (messages, _pk) in ordered[n_validation:]]
    digest = hashlib.sha256(b"train\n" + _jsonl(train) + b"validation\n" + _jsonl(validation)).hexdigest()
    return DataSnapshot(
        train=train,
        validation=validation,
        sha256=digest,
        train_ids=tuple(pk for _, (_m, pk) in ordered[n_validation:]),
        validation_ids=tuple(pk for _, (_m, pk) in ordered[:n_validation]),
    )


MANIFEST_NAME = "manifest.jsonl"


def save_snapshot(snapshot: DataSnapshot, folder: str) -> tuple[str, str]:
    """Write the snapshot under a storage folder; return the storage paths (train, validation or "").

    `manifest.jsonl` next to them lists the example ids, `{"id", "split"}` per line, train lines then
    validation lines, in file order (like a dataset version's manifest).
    """
    train_path = default_storage.save(f"{folder}/train.jsonl", ContentFile(snapshot.train_jsonl))
    manifest = [{"id": pk, "split": "train"} for pk in snapshot.train_ids]
    manifest += [{"id": pk, "split": "validation"} for pk in snapshot.validation_ids]
    if manifest:
        lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in manifest)
        default_storage.save(f"{folder}/{MANIFEST_NAME}", ContentFile(lines.encode()))
    validation_path = ""
    if snapshot.validation:
        validation_path = default_storage.save(f"{folder}/validation.jsonl", ContentFile(snapshot.validation_jsonl))
    return train_path, validation_path
