""" "What training found" pages (per job and per adapter) and the send-back form they post.

Reviewers and owners only: the page lists every author's examples with their evidence, and sending
back is a review action. Outsiders get 404 (the project lookup), annotators a 403 that says why;
their own feedback is on My work.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotation import permissions
from annotation.services import flags as flag_services
from annotune.errors import ApplicationError
from training.selectors import jobs as selectors

from ..selectors import found

FILTER_KEYS = ("ranking", "category", "author", "split")


def _require_reviewer(user, project) -> None:
    permissions.require(
        permissions.can_review(user, project),
        "What training found is for reviewers and owners; your own examples' feedback is on My work.",
    )


def _query(params, **extra) -> str:
    values = {key: params.get(key, "") for key in FILTER_KEYS if params.get(key)}
    values.update({k: v for k, v in extra.items() if v})
    return urlencode(values)


def _context(request, job, *, adapter=None) -> dict:
    project = job.project
    ranking = request.GET.get("ranking") or found.DEFAULT_RANKING
    ordering = found.ranking_ordering(ranking)
    filters = found.ScoreFilters.from_query(request.GET)
    findings = found.job_findings(job)
    page, rows = found.score_page(job, findings, filters, ordering, request.GET.get("page"))
    base = (
        reverse("adapter-found", args=[project.pk, adapter.pk])
        if adapter is not None
        else reverse("training-found", args=[project.pk, job.pk])
    )
    return {
        "project": project,
        "job": job,
        "adapter": adapter,
        "findings": findings,
        "state_note": found.job_state_note(job, findings),
        "rows": rows,
        "page": page,
        "ranking": ranking,
        "ranking_label": found.RANKINGS[ranking][0],
        "ranking_help": found.RANKINGS[ranking][1],
        "tabs": [
            (key, label, f"{base}?{_query(request.GET, ranking=key)}", key == ranking)
            for key, (label, _, _) in found.RANKINGS.items()
        ],
        "filters": filters,
        "filter_query": _query(request.GET),
        "page_query": _query(request.GET, ranking=ranking),
        "splits": found.SPLITS,
        "outlier_z": found.OUTLIER_Z,
        "flags": found.job_flags(job),
        "forgetting": found.forgetting(job, project, findings),
        "chart": {
            "edges": findings.histogram["edges"],
            "adapter": findings.histogram["adapter"],
            "base": findings.histogram["base"],
        },
    }


@login_required
def job_found(request, project_id: int, job_id: int):
    job = selectors.job_for(request.user, project_id, job_id)
    _require_reviewer(request.user, job.project)
    return render(request, "evaluation/found/found.html", _context(request, job))


@login_required
def adapter_found(request, project_id: int, adapter_id: int):
    adapter, job = found.adapter_job(request.user, project_id, adapter_id)
    _require_reviewer(request.user, adapter.project)
    if job is None:
        context = {"project": adapter.project, "adapter": adapter}
        return render(request, "evaluation/found/no_job.html", context)
    return render(request, "evaluation/found/found.html", _context(request, job, adapter=adapter))


def _posted_ids(post) -> list[int]:
    raw = [post["one"]] if post.get("one") else post.getlist("example")
    try:
        return [int(value) for value in raw]
    except ValueError:
        raise ApplicationError("The selection holds something that is not an example id; reload the page.") from None


@login_required
@require_POST
def send_back(request, project_id: int, job_id: int):
    """One example (a row's button: `one`) or the ticked rows (`example`) back to review."""
    job = selectors.job_for(request.user, project_id, job_id)
    project = job.project
    _require_reviewer(request.user, project)
    back = reverse("training-found", args=[project.pk, job.pk])
    adapter_id = request.POST.get("adapter", "")
    if adapter_id.isdigit() and getattr(job, "adapter", None) is not None and job.adapter.pk == int(adapter_id):
        back = reverse("adapter-found", args=[project.pk, job.adapter.pk])
    query = _query(request.POST, page=request.POST.get("page", "") if request.POST.get("page", "").isdigit() else "")
    try:
        ids = _posted_ids(request.POST)
        findings = found.job_findings(job)
        result = flag_services.examples_send_back(
            project=project,
            user=request.user,
            job_id=job.pk,
            example_ids=ids,
            evidence=found.evidence_for(job, findings, ids),
            data_time=found.data_time(job),
            ranking=request.POST.get("ranking", ""),
            note=request.POST.get("note", ""),
        )
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        (flash.success if result.sent else flash.warning)(request, result.summary())
    return redirect(back + (f"?{query}" if query else "") + "#scores")
