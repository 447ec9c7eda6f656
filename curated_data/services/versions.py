"""Create immutable dataset versions: snapshot the approved examples into files in storage.

Small and large: `version_request` makes the version in the request when the project has at most
ANNOTUNE_VERSION_INLINE_MAX approved examples (a second or two), and otherwise queues a VersionBuild that
a worker runs (`version_build_run`, the same `version_create`), so a project of a million examples never
meets the web server's timeout; its page shows the build until the version exists.

Content: one canonical JSON line per example ({"category", "context", "messages", "style_tags"},
sorted keys, compact), lines sorted by the example's content hash (then by the line itself).
The version's sha256 is the hash of that file, so identical approved content gives the identical
hash whatever the example ids or their order.

Split: stratified by category. Within a category each distinct content hash gets a rank,
sha256(f"{seed}:{content_hash}"); the lowest n * fraction (rounded half up) go to validation (at most n - 1,
so a category keeps a training example). Same content, seed and fraction: same split, on every
run. Identical conversations share a hash, so they land on the same side: no example in both.

Default fraction: when the caller gives none, ANNOTUNE_VALIDATION_FRACTION (0.1) is used unless it holds
out fewer than `MIN_VALIDATION` (10) conversations of a pool of 40 or more (where 10 is at most
`MAX_DEFAULT_VALIDATION_SHARE`, 25 %, of it); then the validation split is raised to 10. The raised split
is allocated by count (`validation_counts`: each category's share of the total, largest remainders first),
and the version records the share actually held out as its validation fraction. Smaller pools keep the
usual fraction. A fraction the caller gives is kept as given. Same content and seed: same split.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils.timezone import now

from annotation.models import Example, ExampleStatus, PreferencePair, Project
from annotation.services.conversations import canonical_json
from annotune import dispatch, work
from annotune.errors import ApplicationError
from annotune.heartbeat import beating
from annotune.storage import ArtifactWriter

from .. import permissions
from ..models import DatasetVersion, VersionBuild, VersionBuildStatus
from .checks import run_dataset_checks

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
MAX_TEXT_CHARS = 5000  # notes and override reason
MIN_VALIDATION = 10
"""With no fraction given, the validation split holds at least this many conversations..."""
MAX_DEFAULT_VALIDATION_SHARE = 0.25
"""...when that is at most this share of the pool (pools of 40 or more)."""


def split_rank(seed: int, digest: str) -> str:
    return hashlib.sha256(f"{seed}:{digest}".encode()).hexdigest()


def _groups(examples: list[dict[str, Any]]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for example in examples:
        groups[example["category"]].add(example["content_hash"])
    return groups


def assign_split(
    examples: list[dict[str, Any]], *, seed: int, fraction: float, counts: dict[str, int] | None = None
) -> dict[str, str]:
    """content_hash -> "train" | "validation" for examples with "category" and "content_hash".

    Each category holds out n * fraction (rounded half up), or `counts[category]` when counts are given;
    always at most n - 1."""
    split: dict[str, str] = {}
    for category, digests in _groups(examples).items():
        ranked = sorted(digests, key=lambda d: (split_rank(seed, d), d))
        wanted = counts.get(category, 0) if counts is not None else math.floor(len(ranked) * fraction + 0.5)
        n_validation = min(wanted, max(len(ranked) - 1, 0))
        for index, digest in enumerate(ranked):
            # A hash in two categories keeps the first side it got: never in both splits.
            split.setdefault(digest, "validation" if index < n_validation else "train")
    return split


def validation_counts(sizes: dict[str, int], total: int) -> dict[str, int]:
    """`total` validation places shared out over categories of these sizes in proportion (largest remainder
    first, ties by name), none taking a category's last conversation."""
    pool = sum(sizes.values())
    if pool <= 0 or total <= 0:
        return dict.fromkeys(sizes, 0)
    exact = {c: total * n / pool for c, n in sizes.items()}
    counts = {c: min(math.floor(exact[c]), max(sizes[c] - 1, 0)) for c in sizes}
    order = sorted(sizes, key=lambda c: (-(exact[c] - math.floor(exact[c])), -sizes[c], c))
    while sum(counts.values()) < total:
        open_ = [c for c in order if counts[c] < sizes[c] - 1]
        if not open_:
            break  # every category is down to its last training conversation
        for category in open_:
            if sum(counts.values()) >= total:
                break
            counts[category] += 1
    return counts


def default_split(examples: list[dict[str, Any]], *, seed: int) -> tuple[float, dict[str, str]]:
    """(validation fraction, split) when the caller gave no fraction: see the module's docstring."""
    base = float(settings.ANNOTUNE_VALIDATION_FRACTION)
    split = assign_split(examples, seed=seed, fraction=base)
    sizes = {category: len(digests) for category, digests in _groups(examples).items()}
    pool = sum(sizes.values())
    held = sum(1 for side in split.values() if side == "validation")
    target = MIN_VALIDATION if MIN_VALIDATION <= pool * MAX_DEFAULT_VALIDATION_SHARE else 0
    if held >= target:
        return base, split
    split = assign_split(examples, seed=seed, fraction=base, counts=validation_counts(sizes, target))
    held = sum(1 for side in split.values() if side == "validation")
    return round(held / pool, 4), split


def _clean_params(seed: Any, fraction: Any, texts: dict[str, str]) -> tuple[int, float | None]:
    errors: dict[str, list[str]] = {}
    for key, text in texts.items():
        if len(text) > MAX_TEXT_CHARS:
            errors[key] = [f"At most {MAX_TEXT_CHARS:,} characters (this has {len(text):,}); shorten it."]
    if seed is None:
        seed = settings.ANNOTUNE_SPLIT_SEED
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        errors["seed"] = ["A whole number between 0 and 2^63-1."]
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction < 1
    ):
        errors["validation_fraction"] = [
            "A fraction from 0 up to (not including) 1, e.g. 0.1; leave it out for the default."
        ]
    if errors:
        raise ApplicationError("Some version settings are invalid.", errors)
    return seed, None if fraction is None else float(fraction)


def approved_snapshot(project: Project) -> list[dict[str, Any]]:
    """The approved examples as canonical records, in canonical order, with their author's username (read in
    the same query: the checks need it, and a second query naming every example is refused by SQLite past
    its variable limit)."""
    rows = (
        Example.objects.filter(project=project, status=ExampleStatus.APPROVED)
        .values_list("id", "messages", "category", "style_tags", "context", "content_hash", "author__username")
        .iterator(chunk_size=2000)
    )
    examples = []
    for pk, messages, category, style_tags, context, digest, author in rows:
        record = {"messages": messages, "category": category, "style_tags": style_tags, "context": context}
        line = canonical_json(record)
        examples.append(
            {
                "id": pk,
                **record,
                "content_hash": digest,
                "author": author,
                "line": line,
                "record_sha256": hashlib.sha256(line.encode()).hexdigest(),
            }
        )
    examples.sort(key=lambda e: (e["content_hash"], e["line"], e["id"]))
    return examples


class _HashedFile:
    """A temporary file that hashes what is written to it."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
        self.sha = hashlib.sha256()
        self.count = 0

    def write_line(self, text: str) -> None:
        data = text.encode() + b"\n"
        self.sha.update(data)
        self.file.write(data)
        self.count += 1

    def save(self, name: str, writer: ArtifactWriter) -> str:
        self.file.seek(0)
        try:
            return writer.save(name, File(self.file, name=name))
        finally:
            self.file.close()


def version_create(
    *,
    project: Project,
    user,
    notes: str = "",
    seed: Any = None,
    validation_fraction: Any = None,
    override_reason: str = "",
) -> DatasetVersion:
    """Snapshot the approved examples as the project's next version (owners only)."""
    if not permissions.can_create_version(user, project):
        raise PermissionDenied("Only project owners can create dataset versions.")
    # Too long a text is refused, never cut short: what is stored is what was written.
    notes, override_reason = (notes or "").strip(), (override_reason or "").strip()
    seed, fraction = _clean_params(seed, validation_fraction, {"notes": notes, "override_reason": override_reason})
    # All files and the row, or nothing: when a write fails (full or read-only storage) or the transaction
    # does not commit, the files written so far are deleted (annotune.storage.ArtifactWriter).
    with ArtifactWriter("the dataset version") as writer, transaction.atomic():
        # Versions of one project are numbered and written one at a time.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        examples = approved_snapshot(project)
        if not examples:
            raise ApplicationError("There are no approved examples to put in a version yet.")
        if fraction is None:
            fraction, split = default_split(examples, seed=seed)
        else:
            split = assign_split(examples, seed=seed, fraction=fraction)
        for example in examples:
            example["split"] = split[example["content_hash"]]
        report = run_dataset_checks(
            [{k: v for k, v in e.items() if k not in ("line", "record_sha256")} for e in examples], project
        )
        if report.get("errors"):
            if not override_reason:
                raise ApplicationError(
                    f"The dataset checks found {len(report['errors'])} error(s); fix them, or (owners) give a "
                    "reason to override them.",
                    {"override_reason": ["Required to create a version despite errors."], "report": report},
                )
            if not permissions.can_override_checks(user, project):
                raise PermissionDenied("Only project owners can override the dataset checks.")
        number = (DatasetVersion.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        return _write_version(
            writer, project=project, user=user, number=number, examples=examples, report=report,
            seed=seed, fraction=fraction, notes=notes, override_reason=override_reason,
        )  # fmt: skip


# Next to a version's files: the preference pairs of its examples, which a DPO job trains on
# (training/services/preference_data.py reads it).
PREFERENCES_FILE = "preferences.jsonl"


def preference_lines(project: Project, examples: list[dict[str, Any]]) -> list[str]:
    """The project's preference pairs (corrected drafts) whose example is in this version, in TRL's
    conversational preference format, each with its example's split: a DPO job trains on the train pairs
    and measures preference accuracy on the validation ones, as SFT holds out the validation examples."""
    split = {example["id"]: example["split"] for example in examples}
    lines = []
    for pair in PreferencePair.objects.filter(project=project).order_by("id").iterator(chunk_size=2000):
        if pair.example_id in split:
            record = {
                "prompt": pair.prompt,
                "chosen": [{"role": "assistant", "content": pair.chosen}],
                "rejected": [{"role": "assistant", "content": pair.rejected}],
                "origin": pair.origin,
                "example": pair.example_id,
                "split": split[pair.example_id],
            }
            lines.append(canonical_json(record))
    return lines


def _write_version(
    writer: ArtifactWriter,
    *,
    project: Project,
    user,
    number: int,
    examples: list[dict[str, Any]],
    report: dict[str, Any],
    seed: int,
    fraction: float,
    notes: str,
    override_reason: str,
) -> DatasetVersion:
    files = {part: _HashedFile() for part in ("all", "train", "validation", "manifest")}
    counts: dict[str, dict[str, int]] = {}
    for example in examples:
        files["all"].write_line(example["line"])
        files[example["split"]].write_line(example["line"])
        files["manifest"].write_line(
            canonical_json(
                {
                    "id": example["id"],
                    "content_hash": example["content_hash"],
                    "record_sha256": example["record_sha256"],
                    "split": example["split"],
                }
            )
        )
        bucket = counts.setdefault(example["category"], {"total": 0, "train": 0, "validation": 0})
        bucket["total"] += 1
        bucket[example["split"]] += 1
    sha256 = files["all"].sha.hexdigest()
    folder = f"datasets/project-{project.pk}/v{number}-{sha256[:12]}"
    paths = {part: f.save(f"{folder}/{part}.jsonl", writer) for part, f in files.items()}
    preferences = preference_lines(project, examples)
    if preferences:
        pairs = _HashedFile()
        for line in preferences:
            pairs.write_line(line)
        pairs.save(f"{folder}/{PREFERENCES_FILE}", writer)
    return DatasetVersion.objects.create(
        project=project,
        number=number,
        sha256=sha256,
        example_count=len(examples),
        train_count=files["train"].count,
        validation_count=files["validation"].count,
        category_counts=dict(sorted(counts.items())),
        split_seed=seed,
        validation_fraction=fraction,
        all_path=paths["all"],
        train_path=paths["train"],
        validation_path=paths["validation"],
        manifest_path=paths["manifest"],
        train_sha256=files["train"].sha.hexdigest(),
        validation_sha256=files["validation"].sha.hexdigest(),
        guideline_sha256=hashlib.sha256((project.guidelines or "").encode()).hexdigest(),
        validation_report=report,
        override_reason=override_reason if report.get("errors") else "",
        notes=notes,
        created_by=user,
    )


# -- large versions: built by a worker --------------------------------------------------------------


def builds_inline(project: Project) -> bool:
    """Whether the project's next version is made in the request: at most ANNOTUNE_VERSION_INLINE_MAX
    approved examples (counted only up to the limit: a count of a million rows would cost the request what
    the build saves)."""
    limit = settings.ANNOTUNE_VERSION_INLINE_MAX
    approved = Example.objects.filter(project=project, status=ExampleStatus.APPROVED).values("pk")[: limit + 1].count()
    return approved <= limit


def version_request(
    *,
    project: Project,
    user,
    notes: str = "",
    seed: Any = None,
    validation_fraction: Any = None,
    override_reason: str = "",
) -> DatasetVersion | VersionBuild:
    """The next version: made now for a project of at most ANNOTUNE_VERSION_INLINE_MAX approved examples,
    else a build queued for a worker (one at a time per project). Permission and parameters are checked in
    the request either way; on a worker the dataset checks' refusal ends the build, with their report."""
    asked = {
        "notes": notes,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "override_reason": override_reason,
    }
    if not permissions.can_create_version(user, project):
        raise PermissionDenied("Only project owners can create dataset versions.")
    if builds_inline(project):
        return version_create(project=project, user=user, **asked)
    notes, override_reason = (notes or "").strip(), (override_reason or "").strip()
    seed, fraction = _clean_params(seed, validation_fraction, {"notes": notes, "override_reason": override_reason})
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        active = VersionBuild.objects.filter(
            project=project, status__in=[VersionBuildStatus.QUEUED, VersionBuildStatus.RUNNING]
        ).first()
        if active is not None:
            raise ApplicationError(
                f"Version build {active.pk} is still {active.get_status_display().lower()}; wait for it to finish.",
                {"build": [str(active.pk)]},
            )
        build = VersionBuild.objects.create(
            project=project,
            created_by=user,
            notes=notes,
            seed=seed,
            validation_fraction=fraction,
            override_reason=override_reason,
            phase="waiting for a worker",
        )
        from ..tasks import build_version

        dispatch.send_on_commit(build_version, build.pk)
    return build


def version_build_run(build_id: int) -> None:
    """Worker side: claim the build, make the version (`version_create`), and record how it ended: the
    version, or why not (the checks' report when their errors refused it)."""
    mine = work.claim(VersionBuild, build_id, phase="reading and checking the approved examples", error="")
    if mine is None:
        return
    build = VersionBuild.objects.select_related("project", "created_by").get(pk=build_id)
    approved = Example.objects.filter(project=build.project, status=ExampleStatus.APPROVED).count()
    mine.update(example_count=approved)
    with beating(mine, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS):
        try:
            version = version_create(
                project=build.project,
                user=build.created_by,
                notes=build.notes,
                seed=build.seed,
                validation_fraction=build.validation_fraction,
                override_reason=build.override_reason,
            )
        except (ApplicationError, PermissionDenied) as exc:
            report = exc.extra.get("report") if isinstance(exc, ApplicationError) else None
            message = exc.message if isinstance(exc, ApplicationError) else str(exc)
            mine.update(
                status=VersionBuildStatus.FAILED, phase="", error=message, report=report or {}, finished_at=now()
            )
            return
        except Exception as exc:
            log.exception("version build %s failed", build_id)
            mine.update(
                status=VersionBuildStatus.FAILED,
                phase="",
                error=f"The build stopped on an unexpected error ({type(exc).__name__}); start it again.",
                finished_at=now(),
            )
            return
    if not mine.update(status=VersionBuildStatus.SUCCEEDED, phase="", version=version, finished_at=now()):
        log.warning("version build %s: version %s was made after the build was taken back", build_id, version.number)


def reap_builds() -> dict[str, list[int]]:
    """Builds whose worker died: queued again, or failed after the last attempt; lost messages sent again."""
    from ..tasks import build_version

    return work.reap_stale(
        VersionBuild,
        task=build_version,
        stale_after=settings.ANNOTUNE_VERSION_BUILD_STALE_SECONDS,
        what="version build",
        requeued=lambda reason: {"phase": f"{reason}; queued again"},
        failed=lambda reason, limit: {"phase": "", "error": f"{reason}, the last of {limit}: start the build again."},
    )
