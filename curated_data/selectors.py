"""Reads: import jobs, dataset versions, their files, diffs and the rows training reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404

from annotation.models import Project
from annotune.errors import ApplicationError
from annotune.storage import StorageError, open_stream, storage_failures, storage_reason

from .models import DatasetVersion, ImportJob, VersionBuild, VersionBuildStatus

VERSION_PARTS = ("all", "train", "validation", "manifest")


def import_jobs(project: Project) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project).select_related("created_by").order_by("-id")


def import_job(project: Project, job_id: Any) -> ImportJob:
    try:
        return ImportJob.objects.select_related("project", "created_by").get(project=project, pk=job_id)
    except (ImportJob.DoesNotExist, ValueError, TypeError):
        raise Http404("No such import in this project.") from None


# Fewer validation examples than this and the figures computed on them (validation loss, the behavioural
# evaluation) can't be trusted: pages say so instead of judging.
MIN_TRUSTED_VALIDATION = 10


def validation_warning(version: DatasetVersion) -> str:
    """A sentence when the version's validation split is too small to judge an adapter on, else ""."""
    n = version.validation_count
    if n >= MIN_TRUSTED_VALIDATION:
        return ""
    held = "no validation examples" if n == 0 else f"only {n} validation example{'s' if n != 1 else ''}"
    return (
        f"Version {version.number} has {held}: the validation loss and the behavioural evaluation of adapters "
        f"trained on it can't be trusted. Approve more examples (at least {MIN_TRUSTED_VALIDATION} are held out "
        "once the pool has 40) and create a new version."
    )


def versions(project: Project) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(project=project).select_related("created_by").order_by("-number")


def version_page(project: Project, page: Any) -> Page:
    """One page of the versions list, newest first (a project can have hundreds). Like the other listed
    pages: a page that is not a number gives the first, one past the end the last."""
    return Paginator(versions(project), settings.ANNOTUNE_PAGE_SIZE).get_page(page)


def version_numbers(project: Project) -> list[int]:
    """Every version's number, newest first: the diff form compares any two, not only those on a page."""
    return list(DatasetVersion.objects.filter(project=project).order_by("-number").values_list("number", flat=True))


def version_get(project: Project, number: Any) -> DatasetVersion:
    try:
        return DatasetVersion.objects.select_related("project", "created_by").get(project=project, number=number)
    except (DatasetVersion.DoesNotExist, ValueError, TypeError):
        raise Http404("No such dataset version in this project.") from None


def open_builds(project: Project) -> QuerySet[VersionBuild]:
    """Builds still queued or running (the versions page links to them)."""
    active = [VersionBuildStatus.QUEUED, VersionBuildStatus.RUNNING]
    return VersionBuild.objects.filter(project=project, status__in=active).order_by("pk")


def build_get(project: Project, build_id: Any) -> VersionBuild:
    try:
        return VersionBuild.objects.select_related("version", "created_by").get(project=project, pk=int(build_id))
    except (VersionBuild.DoesNotExist, TypeError, ValueError):
        raise Http404("No such version build in this project.") from None


def version_path(version: DatasetVersion, part: str) -> str:
    if part not in VERSION_PARTS:
        raise Http404("No such file in this version.")
    return getattr(version, f"{part}_path")


def unreadable(version: DatasetVersion, part: str, exc: BaseException) -> StorageError:
    """The error for a version file the storage cannot give (gone, or the storage unreachable): a 503
    saying so, instead of a 500 (or, for a missing file, a traceback naming the server's paths)."""
    reason = "it is missing from the artifact storage" if isinstance(exc, FileNotFoundError) else storage_reason(exc)
    return StorageError(f"The {part} file of dataset version {version.number} cannot be read: {reason}.")


def version_open(version: DatasetVersion, part: str) -> IO[bytes]:
    """One of the version's files (all, train, validation, manifest), opened for reading front to back
    (streamed from object storage). StorageError when the storage cannot give it."""
    path = version_path(version, part)
    try:
        return open_stream(path)
    except storage_failures() as exc:
        raise unreadable(version, part, exc) from exc


def version_size(version: DatasetVersion, part: str) -> int:
    try:
        return default_storage.size(version_path(version, part))
    except storage_failures() as exc:
        raise unreadable(version, part, exc) from exc


def _damaged(version: DatasetVersion, part: str, what: str) -> ApplicationError:
    return ApplicationError(
        f"The {part} file of dataset version {version.number} {what}; it was changed or damaged in storage. "
        "Create a new version."
    )


def _read_lines(version: DatasetVersion, part: str, expected_sha256: str | None) -> list[dict[str, Any]]:
    sha = hashlib.sha256()
    rows = []
    with version_open(version, part) as stream:
        try:
            for raw in stream:
                sha.update(raw)
                rows.append(json.loads(raw))
        except storage_failures() as exc:  # the storage stopped answering halfway
            raise unreadable(version, part, exc) from exc
        except ValueError:  # a line that is not JSON (or not UTF-8)
            raise _damaged(version, part, f"has a line that is not JSON (line {len(rows) + 1})") from None
    if expected_sha256 is not None and sha.hexdigest() != expected_sha256:
        raise _damaged(version, part, "does not match its recorded sha256")
    return rows


def version_read_split(version: DatasetVersion) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training feature's only way in: (train rows, validation rows), each {"messages", "category"}.

    Reads the version's immutable files and checks them against their recorded sha256.
    """
    parts = []
    for part, digest in (("train", version.train_sha256), ("validation", version.validation_sha256)):
        parts.append(
            [{"messages": r["messages"], "category": r["category"]} for r in _read_lines(version, part, digest)]
        )
    return parts[0], parts[1]


@dataclass
class VersionDiff:
    base: DatasetVersion
    target: DatasetVersion
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.number,
            "target": self.target.number,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
        }


def _manifest(version: DatasetVersion) -> dict[int, str]:
    rows = _read_lines(version, "manifest", None)
    try:
        return {row["id"]: row["record_sha256"] for row in rows}
    except (KeyError, TypeError):
        raise _damaged(version, "manifest", "has a line that is not a manifest entry") from None


def version_diff(base: DatasetVersion, target: DatasetVersion) -> VersionDiff:
    """Examples added, removed and changed from `base` to `target`, matched by example id.

    Changed: the same example with a different record (conversation, category, tags or context).
    """
    old, new = _manifest(base), _manifest(target)
    diff = VersionDiff(base, target)
    diff.added = sorted(set(new) - set(old))
    diff.removed = sorted(set(old) - set(new))
    for pk in sorted(set(old) & set(new)):
        if old[pk] != new[pk]:
            diff.changed.append(pk)
        else:
            diff.unchanged += 1
    return diff
