"""Dataset-level validation runs: queued by a member, executed by a Celery worker, shown on Data health."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from annotune import dispatch, work
from annotune.errors import ApplicationError
from annotune.heartbeat import beating

from .. import permissions
from ..models import Example, ExampleStatus, Project, ValidationRun, ValidationRunStatus
from . import validation

logger = logging.getLogger(__name__)


def can_run(user, project: Project) -> bool:
    return permissions.can_review(user, project)


def run_start(*, project: Project, user, dataset_version=None) -> ValidationRun:
    """Queue a run (one active run per project); the task is sent once the row is committed."""
    from ..tasks import run_validation

    if not can_run(user, project):
        raise PermissionDenied("Only reviewers and owners start validation runs.")
    if dataset_version is not None and dataset_version.project_id != project.pk:
        raise ApplicationError("That dataset version belongs to another project.")
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        active = ValidationRun.objects.filter(
            project=project, status__in=[ValidationRunStatus.QUEUED, ValidationRunStatus.RUNNING]
        ).first()
        if active is not None:
            raise ApplicationError(f"Run {active.pk} is still {active.status}; wait for it to finish.")
        run = ValidationRun.objects.create(project=project, created_by=user, dataset_version=dataset_version)
        dispatch.send_on_commit(run_validation, run.pk, on_failure=lambda: _note_broker_down(run))
    return run


def _note_broker_down(run: ValidationRun) -> None:
    """The run stays queued (the reaper sends it again); its page says why it waits."""
    run.phase = dispatch.BROKER_DOWN_NOTE
    ValidationRun.objects.filter(pk=run.pk, status=ValidationRunStatus.QUEUED).update(phase=run.phase)


def _progress(mine, progress: float, phase: str) -> None:
    """`mine`: the run while it is this attempt's (a later attempt's row, or its finished run, is not touched)."""
    mine.update(progress=round(min(max(progress, 0.0), 1.0), 3), phase=phase)


def _pool(run: ValidationRun) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """The examples to check (approved pool, or a dataset version's manifest) and their split."""
    split = None
    if run.dataset_version_id:
        ids, split = _manifest(run.dataset_version)
        rows = Example.objects.filter(project=run.project, pk__in=ids)
    else:
        rows = Example.objects.filter(project=run.project, status=ExampleStatus.APPROVED)
    values = rows.values_list("id", "messages", "category", "style_tags", "context", "author__username")
    examples = [
        {"id": pk, "messages": m, "category": c, "style_tags": t, "context": x, "author": a}
        for pk, m, c, t, x, a in values.order_by("id").iterator(chunk_size=2000)
    ]
    return examples, split


def _manifest(version) -> tuple[list[int], dict[str, str]]:
    """Example ids and their split from a dataset version's manifest (one JSON line per example)."""
    from django.core.files.storage import default_storage

    ids, split = [], {}
    with default_storage.open(version.manifest_path, "rb") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                ids.append(int(record["id"]))
                split[str(record["id"])] = record["split"]
    return ids, split


def dataset_report(
    project: Project,
    examples: list[dict[str, Any]],
    *,
    split: dict[str, str] | None = None,
    fact_check: bool = True,
    tokenizer=None,
    on_progress=None,
) -> dict[str, Any]:
    """`validate_dataset` over the examples with the project's spec and policy; a JSON-ready report.

    Per-example checks (with the fact check when the project has a knowledge base) run in chunks so
    progress can be reported; the dataset-level checks run once over all of them.
    """
    from validators import ExampleInput, style_profile, validate_dataset, validate_example

    fingerprint = validation.knowledge_fingerprint(project)
    fact_check = fact_check and validation.has_knowledge(fingerprint)
    spec = validation.project_spec(project, fact_check=fact_check, fingerprint=fingerprint, tokenizer=tokenizer)
    # The pool's majority list and heading style: replies that differ from it are flagged.
    profile = style_profile(ExampleInput.coerce(e) for e in examples)
    spec = dataclasses.replace(spec, list_marker=profile.list_marker, heading_style=profile.heading_style)
    policy = validation.project_policy(project)
    report = validate_dataset(examples, spec, policy, split=split, per_example=False).to_dict()
    if on_progress:
        on_progress(0.3, "per-example checks")
    per_example: dict[str, list[dict]] = {}
    facts: list[dict] = []
    n = len(examples) or 1
    for index, example in enumerate(examples):
        found = validate_example(example, spec, policy, fact_check=fact_check)
        if found:
            per_example[str(example["id"])] = [f.to_dict() for f in found]
            facts += [{"example": example["id"], **f.to_dict()} for f in found if f.code.startswith("fact.")]
        if on_progress and index % 200 == 199:
            on_progress(0.3 + 0.65 * (index + 1) / n, "per-example checks")
    report["example_findings"] = per_example
    report["fact_checks"] = facts
    report["fact_check_ran"] = fact_check
    report["style_profile"] = {"list_marker": profile.list_marker, "heading_style": profile.heading_style}
    report["summary"] = summarise(report)
    return report


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    findings = report.get("findings") or []
    per_example = report.get("example_findings") or {}
    count = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        count[finding["severity"]] = count.get(finding["severity"], 0) + 1
    example_errors = sum(1 for fs in per_example.values() if any(f["severity"] == "error" for f in fs))
    by_fact = {"supported": 0, "unsupported": 0, "contradicted": 0, "verified": 0}
    for fact in report.get("fact_checks") or []:
        key = fact["code"].split(".", 1)[1]
        by_fact[key] = by_fact.get(key, 0) + 1
    return {
        "dataset_errors": count["error"],
        "dataset_warnings": count["warning"],
        "dataset_info": count["info"],
        "examples_with_errors": example_errors,
        "examples_with_findings": len(per_example),
        "facts": by_fact,
    }


def run_execute(run_id: int) -> None:
    """Worker side: claim the queued run, compute the report, store it (failures are recorded).

    The worker beats on the row while it computes; the result is stored only if the row is still this
    attempt's (a run the reaper took back from a worker presumed dead ends with one report, not two).
    """
    mine = work.claim(ValidationRun, run_id, phase="loading")
    if mine is None:
        return
    run = ValidationRun.objects.select_related("project", "project__base_model", "dataset_version").get(pk=run_id)
    with beating(mine, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS):
        _compute(run, mine)


def _compute(run: ValidationRun, mine) -> None:
    try:
        examples, split = _pool(run)
        _progress(mine, 0.1, "dataset checks")
        tokenizer = validation.tokenizer_for_worker(run.project)
        report = dataset_report(
            run.project,
            examples,
            split=split,
            tokenizer=tokenizer,
            on_progress=lambda p, phase: _progress(mine, p, phase),
        )
        report["tokenizer"] = "model" if tokenizer else "estimate"
        summary = report["summary"]
        mine.update(
            status=ValidationRunStatus.SUCCEEDED,
            progress=1.0,
            phase="done",
            report=report,
            example_count=len(examples),
            error_count=summary["dataset_errors"] + summary["examples_with_errors"],
            warning_count=summary["dataset_warnings"],
            finished_at=timezone.now(),
        )
    except Exception as exc:
        logger.exception("Validation run %s failed", run.pk)
        mine.update(
            status=ValidationRunStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )


# --- the reaper (Celery beat) ----------------------------------------------------------------------


def reap_runs() -> dict[str, list[int]]:
    """Runs whose worker died (heartbeat stopped): queued again, or failed after the last attempt;
    queued runs whose message the broker lost: sent again. Returns the ids of each."""
    from ..tasks import run_validation

    return work.reap_stale(
        ValidationRun,
        task=run_validation,
        stale_after=settings.ANNOTUNE_VALIDATION_STALE_SECONDS,
        what="validation run",
        requeued=lambda reason: {"progress": 0.0, "phase": "queued again: " + reason[:80]},
        failed=lambda reason, limit: {"error": f"{reason}, the last of {limit}. Start the run again."},
    )
