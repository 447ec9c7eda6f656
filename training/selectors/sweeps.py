"""Reads of rank sweeps: members with their figures, the chart series and the recommended rank.

`recommend` and `sweep_status` are pure (no database) so their rules are tested on plain values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from annotation import permissions
from annotation.models import Project

from ..engine import results
from ..models import ACTIVE_STATUSES, JobStatus, Sweep, SweepAxis, TrainingJob
from .workers import place_in_line

# What the train-validation gap subtracts: the last logged training loss, else the session mean.
GAP_RULE = "gap = validation loss − final training loss"


@dataclass(frozen=True)
class MemberPoint:
    """One member of a sweep as the chart and the recommendation see it."""

    job_id: int
    rank: int
    alpha: int
    targets: str
    status: str
    val_loss: float | None = None
    train_loss: float | None = None
    size_bytes: int | None = None
    runtime_seconds: float | None = None
    error: str = ""

    @property
    def gap(self) -> float | None:
        if self.val_loss is None or self.train_loss is None:
            return None
        return self.val_loss - self.train_loss

    def label(self, *, with_targets: bool) -> str:
        return f"rank {self.rank}" + (f" ({self.targets})" if with_targets else "")


@dataclass(frozen=True)
class Recommendation:
    job_id: int | None
    rank: int | None
    targets: str
    reason: str  # one sentence
    notes: list[str] = field(default_factory=list)  # members left out, members still running


def _percent(tolerance: float) -> str:
    return f"{tolerance * 100:g} %"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _left_out(point: MemberPoint, label: str) -> str:
    if point.status in ACTIVE_STATUSES:
        return f"{_capital(label)} is still {point.status}; the recommendation may change when it ends."
    if point.status == JobStatus.FAILED:
        reason = point.error.strip().splitlines()[0] if point.error.strip() else ""
        return f"{_capital(label)} failed and is left out" + (f" ({reason})." if reason else ".")
    if point.status == JobStatus.CANCELLED:
        return f"{_capital(label)} was cancelled and is left out."
    return f"{_capital(label)} finished without a validation loss and is left out."


def recommend(points: Sequence[MemberPoint], tolerance: float, *, with_targets: bool = False) -> Recommendation:
    """The smallest rank whose validation loss is within `tolerance` (a share) of the best one.

    Only succeeded members with a validation loss count; the others are listed in `notes`. Among
    members within the tolerance the smallest rank wins, then the smaller adapter, then the lower loss.
    """
    usable = [p for p in points if p.status == JobStatus.SUCCEEDED and p.val_loss is not None]
    notes = [_left_out(p, p.label(with_targets=with_targets)) for p in points if p not in usable]
    if not usable:
        reason = "No member has finished with a validation loss yet, so there is no rank to recommend."
        return Recommendation(None, None, "", reason, notes)

    def size(p: MemberPoint) -> float:
        return p.size_bytes if p.size_bytes is not None else math.inf

    best = min(usable, key=lambda p: (p.val_loss, p.rank, size(p), p.job_id))
    assert best.val_loss is not None
    limit = best.val_loss + abs(best.val_loss) * tolerance
    within = [p for p in usable if p.val_loss is not None and p.val_loss <= limit + 1e-12]
    choice = min(within, key=lambda p: (p.rank, size(p), p.val_loss, p.job_id))
    label, best_label = choice.label(with_targets=with_targets), best.label(with_targets=with_targets)
    if choice is best:
        if len(usable) == 1:
            reason = (
                f"{_capital(label)} is the only member with a validation loss ({best.val_loss:.4f}), "
                "so it is the one to use."
            )
        elif all(p.rank >= best.rank for p in usable):
            reason = (
                f"{_capital(label)} has the lowest validation loss ({best.val_loss:.4f}) and is the smallest "
                "rank compared."
            )
        else:
            reason = (
                f"{_capital(label)} has the lowest validation loss ({best.val_loss:.4f}) and no smaller rank "
                f"comes within {_percent(tolerance)} of it."
            )
    else:
        assert choice.val_loss is not None
        higher = (choice.val_loss - best.val_loss) / abs(best.val_loss) * 100 if best.val_loss else 0.0
        smaller = ""
        if choice.size_bytes and best.size_bytes and best.size_bytes > choice.size_bytes:
            smaller = f", with an adapter {best.size_bytes / choice.size_bytes:.1f}× smaller"
        reason = (
            f"{_capital(label)} is the smallest rank whose validation loss ({choice.val_loss:.4f}) is within "
            f"{_percent(tolerance)} of the best ({best.val_loss:.4f} at {best_label}; {higher:.1f} % higher)"
            f"{smaller}."
        )
    return Recommendation(choice.job_id, choice.rank, choice.targets, reason, notes)


def sweep_status(statuses: Iterable[str]) -> str:
    """queued | running | succeeded | partial (some did not succeed) | failed | cancelled."""
    statuses = list(statuses)
    if not statuses:
        return JobStatus.CANCELLED
    if any(s == JobStatus.RUNNING for s in statuses):
        return JobStatus.RUNNING
    if any(s == JobStatus.QUEUED for s in statuses):
        return JobStatus.RUNNING if any(s != JobStatus.QUEUED for s in statuses) else JobStatus.QUEUED
    if all(s == JobStatus.SUCCEEDED for s in statuses):
        return JobStatus.SUCCEEDED
    if any(s == JobStatus.SUCCEEDED for s in statuses):
        return "partial"
    if all(s == JobStatus.CANCELLED for s in statuses):
        return JobStatus.CANCELLED
    return JobStatus.FAILED


STATUS_LABELS = {"partial": "Partly succeeded", **dict(JobStatus.choices)}


def sweep_list(project: Project) -> QuerySet[Sweep]:
    return Sweep.objects.filter(project=project).select_related("dataset_version", "base_model").order_by("-id")


def sweep_for(user, project_id: Any, sweep_id: Any) -> Sweep:
    """The sweep if the user may see its project; Http404 otherwise."""
    project = permissions.project_for(user, project_id)
    try:
        sweep = Sweep.objects.select_related("dataset_version", "base_model", "created_by").get(
            project=project, pk=sweep_id
        )
    except (Sweep.DoesNotExist, ValueError, TypeError):
        raise Http404("No such sweep.") from None
    sweep.project = project
    return sweep


def _targets(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def member_point(job: TrainingJob) -> MemberPoint:
    adapter = getattr(job, "adapter", None)
    metrics = (adapter.metrics if adapter is not None else None) or (job.result or {}).get("metrics") or {}
    train = results.clean_float(metrics.get("final_loss"))
    if train is None:
        train = results.clean_float(metrics.get("train_loss"))
    size = adapter.size_bytes if adapter is not None else (job.result or {}).get("adapter_size_bytes")
    return MemberPoint(
        job_id=job.pk,
        rank=int(job.config.get("rank", 0)),
        alpha=int(job.config.get("alpha", 0)),
        targets=_targets(job.config.get("target_modules", "")),
        status=job.status,
        val_loss=results.clean_float(metrics.get("val_loss_adapter")) if job.status == JobStatus.SUCCEEDED else None,
        train_loss=train,
        size_bytes=int(size) if size else None,
        runtime_seconds=results.clean_float(metrics.get("train_runtime_seconds")),
        error=job.error if job.status == JobStatus.FAILED else "",
    )


def sweep_members(sweep: Sweep) -> list[TrainingJob]:
    return list(
        TrainingJob.objects.filter(sweep=sweep)
        .select_related("adapter")
        .defer("log_tail", "estimate", "adapter__samples", "adapter__model_card", "adapter__lineage")
        .order_by("id")
    )


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def sweep_chart(points: Sequence[MemberPoint], ranks: Sequence[int]) -> dict[str, Any]:
    """Chart.js-ready series: x = ranks; one line per target choice; None where a member has no value."""
    groups: dict[str, dict[int, MemberPoint]] = {}
    for p in points:
        groups.setdefault(p.targets, {})[p.rank] = p
    series = []
    for targets, by_rank in groups.items():
        row = [by_rank.get(r) for r in ranks]
        series.append(
            {
                "label": targets,
                "val_loss": [_round(p.val_loss, 5) if p else None for p in row],
                "gap": [_round(p.gap, 5) if p and p.val_loss is not None else None for p in row],
                "size_mib": [_round(p.size_bytes / 1048576, 4) if p and p.size_bytes else None for p in row],
                "runtime_seconds": [_round(p.runtime_seconds, 1) if p else None for p in row],
            }
        )
    return {"ranks": [str(r) for r in ranks], "series": series}


def sweep_report(sweep: Sweep) -> dict[str, Any]:
    """Everything the sweep page and the API show: status, member rows, chart series, recommendation."""
    jobs = sweep_members(sweep)
    points = [member_point(job) for job in jobs]
    with_targets = sweep.axis == SweepAxis.TARGETS
    status = sweep_status(p.status for p in points)
    recommendation = recommend(points, sweep.tolerance, with_targets=with_targets)
    rows = [
        {
            "point": p,
            "job": job,
            "label": p.label(with_targets=with_targets),
            "status_label": job.get_status_display(),
            "waiting": place_in_line(job),
            "val_loss": results.format_metric("val_loss_adapter", p.val_loss),
            "train_loss": results.format_metric("final_loss", p.train_loss),
            "gap": "—" if p.gap is None else f"{p.gap:+.4f}",
            "size": results.format_bytes(p.size_bytes) if p.size_bytes else "—",
            "runtime": results.format_seconds(p.runtime_seconds),
            "recommended": p.job_id == recommendation.job_id,
        }
        for job, p in zip(jobs, points, strict=True)
    ]
    return {
        "status": status,
        "status_label": STATUS_LABELS.get(status, status),
        "is_active": status in (JobStatus.QUEUED, JobStatus.RUNNING),
        "points": points,
        "rows": rows,
        "recommendation": recommendation,
        "chart": sweep_chart(points, sweep.ranks),
        "gap_rule": GAP_RULE,
    }
