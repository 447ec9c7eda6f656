"""Rank sweeps: one job per rank (and target-layer choice) on one dataset version, launched and
cancelled together."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation import permissions
from annotation.models import Project
from annotune.errors import ApplicationError

from ..models import AlphaRule, BaseModel, JobStatus, Sweep, SweepAxis, TrainingJob
from . import quotas
from .configs import resolve_config
from .jobs import NO_VERSION, job_create, latest_version, version_data
from .launch_plan import DEFAULT_PRESET, JobSpec, job_spec

log = logging.getLogger(__name__)

DEFAULT_RANKS = (4, 8, 16, 32)
DEFAULT_TOLERANCE = 0.02
MAX_MEMBERS = 12
TARGET_CHOICES = ("attention", "all-linear")


def member_alpha(rule: str, rank: int, base_alpha: int) -> int:
    """The alpha a member of rank `rank` gets under `rule` (see `AlphaRule`)."""
    if rule == AlphaRule.DOUBLE:
        return 2 * rank
    if rule == AlphaRule.EQUAL:
        return rank
    return base_alpha  # rsLoRA: one alpha for every rank; the scaling alpha / sqrt(r) does the rest


def member_configs(
    base_config: dict[str, Any], *, ranks: Sequence[int], alpha_rule: str, axis: str
) -> list[dict[str, Any]]:
    """One config per member: ranks ascending, then (targets axis) attention before all linear layers."""
    targets = TARGET_CHOICES if axis == SweepAxis.TARGETS else (base_config["target_modules"],)
    out = []
    for target in targets:
        for rank in ranks:
            config = {**base_config, "rank": rank, "alpha": member_alpha(alpha_rule, rank, base_config["alpha"])}
            config["target_modules"] = target
            if alpha_rule == AlphaRule.RSLORA:
                config["use_rslora"] = True
            out.append(config)
    return out


def clean_ranks(ranks: Sequence[Any] | None) -> list[int]:
    ranks = list(DEFAULT_RANKS if ranks is None else ranks)
    problem = None
    if not all(isinstance(r, int) and not isinstance(r, bool) and 1 <= r <= 512 for r in ranks):
        problem = "Ranks are whole numbers from 1 to 512."
    elif len(set(ranks)) < 2:
        problem = "Compare at least two different ranks."
    if problem:
        raise ApplicationError(problem, {"ranks": [problem]})
    return sorted(set(ranks))


def sweep_launch(
    *,
    project: Project,
    user,
    dataset_version: Any = None,
    preset: str | None = None,
    config: dict[str, Any] | None = None,
    ranks: Sequence[int] | None = None,
    alpha_rule: str = AlphaRule.DOUBLE,
    axis: str = SweepAxis.RANK,
    tolerance: float = DEFAULT_TOLERANCE,
    base_model: BaseModel | None = None,
) -> Sweep:
    """Create the sweep and one queued job per member in one transaction.

    Every member shares the dataset version (default: the latest), base model, seed and settings;
    rank, alpha (per `alpha_rule`) and, on the targets axis, `target_modules` vary. Each member is planned
    (`launch_plan.job_spec`) before the transaction opens; a member the plan refuses (e.g. memory) refuses
    the whole sweep, naming the member; a member whose estimate is not kept yet is created "estimating"
    (training/services/estimating.py). Beyond the caps on unfinished sweeps or queued jobs
    (`quotas.sweep_admit`) nothing is created (429).
    """
    permissions.require(permissions.can_train(user, project), "Only project owners can train adapters.")
    ranks = clean_ranks(ranks)
    if alpha_rule not in AlphaRule.values:
        raise ApplicationError("Unknown alpha rule.", {"alpha_rule": [f"Choose one of: {', '.join(AlphaRule)}."]})
    if axis not in SweepAxis.values:
        raise ApplicationError("Unknown sweep axis.", {"axis": [f"Choose one of: {', '.join(SweepAxis)}."]})
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and 0 <= tolerance <= 0.5):
        raise ApplicationError("The tolerance is a share from 0 to 0.5.", {"tolerance": ["From 0 to 0.5."]})
    members = len(ranks) * (2 if axis == SweepAxis.TARGETS else 1)
    if members > MAX_MEMBERS:
        message = f"A sweep runs at most {MAX_MEMBERS} jobs; this one would run {members}."
        raise ApplicationError(message, {"ranks": [message]})
    dataset_version = dataset_version or latest_version(project)
    if dataset_version is None:
        raise ApplicationError(NO_VERSION, {"dataset_version": ["The project has no dataset version yet."]})
    data = version_data(project, dataset_version)
    base_model = base_model or project.base_model
    if base_model is None:
        raise ApplicationError(
            "Choose a base model for this project before training.", {"base_model": ["No base model chosen."]}
        )
    if preset is None and config is None:
        preset = DEFAULT_PRESET
    base_config = resolve_config(preset=preset, config=config)
    specs = [
        _member_spec(project, base_model, member, axis)
        for member in member_configs(base_config, ranks=ranks, alpha_rule=alpha_rule, axis=axis)
    ]
    with transaction.atomic():
        # 429 beyond the caps on unfinished sweeps, and on queued jobs for all its members at once
        quotas.sweep_admit(user=user, project=project, jobs=members)
        sweep = Sweep.objects.create(
            project=project,
            created_by=user,
            dataset_version=dataset_version,
            base_model=base_model,
            preset=preset or "",
            base_config=base_config,
            ranks=ranks,
            alpha_rule=alpha_rule,
            axis=axis,
            tolerance=float(tolerance),
        )
        for spec in specs:
            job_create(project=project, user=user, spec=spec, data=data, sweep=sweep)
    log.info("rank sweep %s launched by %s for project %s (%s jobs)", sweep.pk, user, project.pk, members)
    return sweep


def _member_spec(project: Project, base_model: BaseModel, member: dict[str, Any], axis: str) -> JobSpec:
    name = f"rank {member['rank']}" + (f" ({member['target_modules']})" if axis == SweepAxis.TARGETS else "")
    try:
        spec = job_spec(project=project, preset=None, config=member, base_model=base_model)
    except ApplicationError as exc:
        raise ApplicationError(f"The sweep was not launched: {name}: {exc.message}", exc.extra) from exc
    if spec.refusal:
        raise ApplicationError(f"The sweep was not launched: {name}: {spec.refusal}", {"config": [spec.refusal]})
    return spec


def sweep_cancel(*, sweep: Sweep, user) -> Sweep:
    """Cancel every member still queued (at once) or running (the worker stops it cooperatively)."""
    permissions.require(permissions.can_train(user, sweep.project), "Only project owners can cancel training.")
    members = TrainingJob.objects.filter(sweep=sweep)
    with transaction.atomic():
        queued = members.filter(status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED,
            cancel_requested=True,
            finished_at=timezone.now(),
            error="Cancelled with its sweep before it started.",
        )
        running = members.filter(status=JobStatus.RUNNING).update(cancel_requested=True)
        if not queued and not running:
            raise ApplicationError("Every job of this sweep has already finished.")
        Sweep.objects.filter(pk=sweep.pk).update(cancel_requested=True)
    sweep.refresh_from_db()
    return sweep
