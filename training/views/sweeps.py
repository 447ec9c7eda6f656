"""Rank sweep page: members, charts against rank, the recommended rank; cancel."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation import permissions
from annotune.errors import ApplicationError

from ..models import SweepAxis
from ..selectors import sweeps as selectors
from ..selectors.configuration import config_rows
from ..services import sweeps as sweep_services


def _context(request, project_id: int, sweep_id: int) -> dict:
    sweep = selectors.sweep_for(request.user, project_id, sweep_id)
    varying = ["rank", "alpha"] + (["target_modules"] if sweep.axis == SweepAxis.TARGETS else [])
    return {
        "project": sweep.project,
        "sweep": sweep,
        "report": selectors.sweep_report(sweep),
        "tolerance_percent": f"{sweep.tolerance * 100:g}",
        "can_train": permissions.can_train(request.user, sweep.project),
        "config_rows": config_rows(sweep.base_config, varying=varying, note="varies per member (see the table)"),
    }


@login_required
def sweep_detail(request, project_id: int, sweep_id: int):
    """The page; an htmx poll (while members are active) gets the members panel only."""
    context = _context(request, project_id, sweep_id)
    if request.headers.get("HX-Request"):
        return render(request, "training/_sweep_members.html", context)
    return render(request, "training/sweep_detail.html", context)


@login_required
@require_POST
def sweep_cancel(request, project_id: int, sweep_id: int):
    sweep = selectors.sweep_for(request.user, project_id, sweep_id)
    try:
        sweep_services.sweep_cancel(sweep=sweep, user=request.user)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, f"Sweep {sweep.pk} cancelled: queued jobs stopped, running ones are stopping.")
    return redirect("training-sweep-detail", project_id=project_id, sweep_id=sweep_id)
