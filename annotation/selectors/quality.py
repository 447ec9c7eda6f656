"""Reads for the quality pages: knowledge base lists, validation runs, report views, check help."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from ..models import ClaimVerification, Example, Fact, KnowledgeDocument, Project, ValidationRun, ValidationRunStatus
from ..services.validation import project_policy

RUN_HISTORY = 20


def knowledge_documents(project: Project) -> QuerySet:
    return (
        KnowledgeDocument.objects.filter(project=project)
        .select_related("uploaded_by")
        .defer("text")
        .order_by("title", "id")
    )


def facts(project: Project) -> QuerySet:
    return Fact.objects.filter(project=project).order_by("id")


def claim_verifications(project: Project) -> QuerySet:
    return ClaimVerification.objects.filter(project=project).select_related("verified_by").order_by("-id")


def run_history(project: Project, limit: int = RUN_HISTORY) -> list[ValidationRun]:
    """The latest runs without their (large) reports."""
    return list(
        ValidationRun.objects.filter(project=project)
        .select_related("created_by", "dataset_version")
        .defer("report")
        .order_by("-id")[:limit]
    )


def latest_finished_run(project: Project) -> ValidationRun | None:
    return (
        ValidationRun.objects.filter(project=project, status=ValidationRunStatus.SUCCEEDED)
        .select_related("created_by")
        .order_by("-id")
        .first()
    )


def run_for(project: Project, run_id: int) -> ValidationRun:
    try:
        return ValidationRun.objects.select_related("created_by").get(project=project, pk=run_id)
    except ValidationRun.DoesNotExist:
        raise Http404("No such validation run.") from None


def waiting_note(run: ValidationRun) -> str:
    """Why a queued run has not started: what is ahead of it on the workers' default queue ("" once it runs)."""
    if run.status != ValidationRunStatus.QUEUED:
        return ""
    ahead = ValidationRun.objects.filter(
        status__in=[ValidationRunStatus.QUEUED, ValidationRunStatus.RUNNING], pk__lt=run.pk
    ).count()
    if ahead:
        runs = "data-health run is" if ahead == 1 else "data-health runs are"
        return f"Waiting for a worker: {ahead} {runs} ahead of this one (each takes seconds to a few minutes)."
    return (
        "Waiting for a worker to pick it up: nothing is ahead of it, but the same workers also merge and export "
        "adapters. If it stays queued, check that a worker is running (make run starts one)."
    )


def report_view(project: Project, report: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the data-health page shows from a stored report: chart data and lists (one query for
    the previews of examples named in duplicate clusters and fact checks)."""
    if not report:
        return None
    stats = report.get("stats") or {}
    categories = stats.get("categories") or {}
    lengths = stats.get("lengths") or {}
    annotators = stats.get("annotators") or {}
    duplicates = stats.get("duplicates") or {}
    exact = duplicates.get("exact") or []
    near = duplicates.get("near") or []
    fact_checks = [f for f in report.get("fact_checks") or [] if f.get("code") != "fact.supported"]
    wanted: set[int] = set()
    for cluster in [*exact[:50], *near[:50]]:
        wanted.update(_int(k) for k in cluster)
    wanted.update(_int(f.get("example")) for f in fact_checks[:200])
    wanted.discard(None)  # type: ignore[arg-type]
    previews = {
        pk: _preview(messages)
        for pk, messages in Example.objects.filter(project=project, pk__in=wanted).values_list("id", "messages")
    }

    def cluster_rows(clusters: list) -> list[list[dict[str, Any]]]:
        return [[{"id": _int(k), "preview": previews.get(_int(k), "")} for k in c] for c in clusters[:50]]

    charts = {
        "categories": {
            "labels": list(categories),
            "actual": [v.get("share", 0) for v in categories.values()],
            "target": [v.get("target") for v in categories.values()],
        },
        "lengths": {
            part: {
                "labels": [f"{e:g}" for e in (lengths.get(part, {}).get("histogram", {}).get("edges") or [])[:-1]],
                "counts": lengths.get(part, {}).get("histogram", {}).get("counts") or [],
            }
            for part in ("prompt", "response")
        },
        "annotators": {
            "labels": list(annotators),
            "shares": [v.get("share", 0) for v in annotators.values()],
        },
    }
    n_examples = stats.get("n_examples", 0)
    return {
        "summary": report.get("summary") or {},
        "n_examples": n_examples,
        "pool": pool_size_view(n_examples),
        "findings": report.get("findings") or [],
        "charts": charts,
        "categories": categories,
        "lengths": lengths,
        "annotators": annotators,
        "exact": cluster_rows(exact),
        "near": cluster_rows(near),
        "leakage": stats.get("leakage") or [],
        "diversity": stats.get("diversity") or {},
        "fact_checks": [{**f, "preview": previews.get(_int(f.get("example")), "")} for f in fact_checks[:200]],
        "fact_check_ran": report.get("fact_check_ran", False),
        "tokenizer": report.get("tokenizer", ""),
    }


def pool_size_view(n_examples: int) -> dict[str, Any]:
    """Whether the pool is big enough for the statistical dataset checks (balance, dominance, outliers).

    Below the threshold those checks do not run, so "0 warnings" would read as an all-clear it is not.
    """
    from validators import DatasetThresholds

    minimum = DatasetThresholds().min_examples
    too_small = n_examples < minimum
    return {
        "too_small": too_small,
        "minimum": minimum,
        "message": (
            f"Only {n_examples} approved example{'' if n_examples == 1 else 's'}: too few to judge balance; "
            f"these checks start at {minimum}."
            if too_small
            else ""
        ),
        "skipped": (
            "Category balance, general-data share, annotator dominance, style-tag coverage, length outliers "
            "and diversity are not judged yet; the shares below are shown as they are, not as findings."
            if too_small
            else ""
        ),
    }


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _preview(messages: list[dict]) -> str:
    for message in messages or []:
        if message.get("role") == "user":
            return str(message.get("content", ""))[:120]
    return ""


def check_entries(project: Project) -> list[dict[str, Any]]:
    """Every registered check with the project's effective severity (or "off")."""
    from validators import Severity, help_entries

    policy = project_policy(project)
    rows = []
    for entry in help_entries():
        effective = (
            "off"
            if policy.is_disabled(entry["code"])
            else policy.severity_for(entry["code"], Severity(entry["severity"])).value
        )
        rows.append({**entry, "effective": effective, "changed": effective != entry["severity"]})
    return rows
