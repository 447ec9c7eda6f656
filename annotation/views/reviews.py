"""Review pages: the keyboard-driven review screen, "my work", the project dashboard, bulk actions."""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import urlencode

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from annotune.errors import ApplicationError

from .. import permissions
from ..forms import messages_from_post
from ..models import Example, ExampleStatus, Review
from ..selectors import drafts as draft_selectors
from ..selectors import examples as example_selectors
from ..selectors import flywheel as flywheel_selectors
from ..selectors import projects as project_selectors
from ..selectors import reviews as review_selectors
from ..services import reviews as review_services

QUEUE_FILTERS = ("category", "author")


def _queue_query(params, **extra) -> str:
    """The queue filters of this request (category, author) as a query string, plus `extra`."""
    values = {key: params.get(key, "") for key in QUEUE_FILTERS if params.get(key)}
    values.update({k: v for k, v in extra.items() if v is not None})
    return urlencode(values)


def _next_url(project_id: int, params, **extra) -> str:
    query = _queue_query(params, **extra)
    return reverse("review-next", args=[project_id]) + (f"?{query}" if query else "")


def _load_example(request, project_id: int, example_id: int) -> Example:
    project = permissions.project_for(request.user, project_id)
    try:
        return example_selectors.example_detail(project, example_id)
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None


def _int_param(params, name: str) -> int | None:
    try:
        return int(params[name]) if params.get(name) else None
    except ValueError:
        return None


@login_required
def review_next(request, project_id: int):
    """Claim the next example (or keep the one held) and open it; an empty queue says so."""
    project = permissions.project_for(request.user, project_id)
    if not permissions.can_review(request.user, project):
        flash.info(request, "Reviewing is for reviewers and owners; here is your own work.")
        return redirect("my-work", project_id=project.pk)
    example = review_services.review_queue_next(
        project=project,
        reviewer=request.user,
        category=request.GET.get("category") or None,
        author=request.GET.get("author") or None,
        after=_int_param(request.GET, "after"),
        before=_int_param(request.GET, "before"),
    )
    if example is not None:
        query = _queue_query(request.GET)
        return redirect(reverse("review-screen", args=[project.pk, example.pk]) + (f"?{query}" if query else ""))
    context = {
        "project": project,
        "counts": review_selectors.review_queue_counts(project, request.user, now=timezone.now()),
        "members": project_selectors.project_members(project),
        "queue": {key: request.GET.get(key, "") for key in QUEUE_FILTERS},
    }
    return render(request, "annotation/review_empty.html", context)


def _screen(request, example: Example, *, error: ApplicationError | None = None, posted=None, status: int = 200):
    project = example.project
    user = request.user
    round_reviews = [r for r in review_selectors.example_reviews(example) if r.round == example.review_round]
    reasons = list(project.reject_reasons or [])
    context = {
        "project": project,
        "example": example,
        "counts": review_selectors.review_queue_counts(project, user, now=timezone.now()),
        "members": project_selectors.project_members(project),
        "queue": {key: request.GET.get(key, "") for key in QUEUE_FILTERS},
        "queue_query": _queue_query(request.GET),
        "next_url": _next_url(project.pk, request.GET, after=example.pk),
        "prev_url": _next_url(project.pk, request.GET, before=example.pk),
        "reasons": [(str(i + 1) if i < 9 else "", code, reason_words(code)) for i, code in enumerate(reasons)],
        "round_reviews": round_reviews,
        "approvals": sum(1 for r in round_reviews if r.decision == "approve"),
        "already_reviewed": any(r.reviewer_id == user.pk for r in round_reviews),
        "can_decide": example.status == ExampleStatus.SUBMITTED
        and permissions.can_review_example(user, example)
        and not any(r.reviewer_id == user.pk for r in round_reviews),
        "held_by_other": example.claimed_by_id not in (None, user.pk)
        and example.claim_expires_at is not None
        and example.claim_expires_at >= timezone.now(),
        "comments": review_selectors.example_comments(example),
        "flags": review_selectors.example_flags(example),
        "draft_diffs": draft_selectors.draft_diffs(example),
        "blocking": review_services.blocking_findings(example),
        "error": error,
        "posted": posted or {},
    }
    return render(request, "annotation/review_screen.html", context, status=status)


@login_required
def review_screen(request, project_id: int, example_id: int):
    example = _load_example(request, project_id, example_id)
    permissions.require(permissions.can_review(request.user, example.project), "Only reviewers and owners review.")
    return _screen(request, example)


DECISIONS = {
    "approve": "Approved",
    "reject": "Rejected",
    "request_changes": "Sent back for changes:",
}


@login_required
@require_POST
def review_decide(request, project_id: int, example_id: int):
    example = _load_example(request, project_id, example_id)
    action = request.POST.get("action", "")
    comment = request.POST.get("comment", "")
    try:
        if action == "approve":
            review = review_services.review_approve(example=example, reviewer=request.user, comment=comment)
        elif action == "reject":
            review = review_services.review_reject(
                example=example, reviewer=request.user, reason=request.POST.get("reason", ""), comment=comment
            )
        elif action == "request_changes":
            review = review_services.review_request_changes(example=example, reviewer=request.user, comment=comment)
        else:
            raise ApplicationError("Choose approve, reject or request changes.", {"action": [f"Got {action!r}."]})
    except ApplicationError as exc:
        example.refresh_from_db()
        posted = {"action": action, "reason": request.POST.get("reason", ""), "comment": comment}
        return _screen(request, example, error=exc, posted=posted, status=exc.status_code)
    flash.success(request, _decided_message(review))
    return redirect(_next_url(project_id, request.GET, after=example.pk))


def _decided_message(review: Review) -> str:
    example = review.example
    text = f"Example {example.pk}: {DECISIONS[review.decision].rstrip(':').lower()}"
    if review.decision == "approve" and example.status != ExampleStatus.APPROVED:
        text = f"Example {example.pk}: your approval is recorded; it waits for more reviewers"
    if review.reason:
        text += f": {reason_words(review.reason)}"
    return text + "."


def reason_words(code: str) -> str:
    """A reject reason as the page says it: "off_topic" -> "off topic" (the code stays in the API)."""
    return str(code).replace("_", " ").strip()


@login_required
@require_http_methods(["GET", "POST"])
def review_edit(request, project_id: int, example_id: int):
    """Edit and approve: the reviewer fixes the text; saving approves it (the edit is a revision)."""
    example = _load_example(request, project_id, example_id)
    project = example.project
    if not permissions.can_review_example(request.user, example):
        raise PermissionDenied("Only reviewers and owners can edit in review, never their own examples.")
    values = {"category": example.category, "context": example.context, "comment": "", "version": example.version}
    turns = example.messages
    error = None
    if request.method == "POST":
        turns = messages_from_post(request.POST)
        values = {
            "category": request.POST.get("category", ""),
            "context": request.POST.get("context", "").replace("\r\n", "\n"),
            "comment": request.POST.get("comment", ""),
            "version": _int_param(request.POST, "version") or -1,
        }
        try:
            review_services.review_edit_and_approve(
                example=example,
                reviewer=request.user,
                version=values["version"],
                messages=turns,
                category=values["category"],
                context=values["context"],
                comment=values["comment"],
            )
        except ApplicationError as exc:
            error = exc
        else:
            flash.success(request, f"Example {example.pk}: edited and approved.")
            return redirect(_next_url(project.pk, request.GET, after=example.pk))
    context = {
        "project": project,
        "example": example,
        "turns": turns,
        "values": values,
        "error": error,
        "queue_query": _queue_query(request.GET),
    }
    return render(request, "annotation/review_edit.html", context, status=error.status_code if error else 200)


@login_required
def my_work(request, project_id: int):
    """An author's returned examples with the reviewers' reasons and comments."""
    project = permissions.project_for(request.user, project_id)
    counts = review_selectors.my_status_counts(project, request.user)
    context = {
        "project": project,
        "returned": review_selectors.my_returned_examples(project, request.user),
        "flagged": review_selectors.my_flagged_examples(project, request.user),
        "counts": [(status, ExampleStatus(status).label, n) for status, n in counts.items()],
    }
    return render(request, "annotation/my_work.html", context)


@login_required
def project_dashboard(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    can_review = permissions.can_review(request.user, project)
    dashboard = review_selectors.project_dashboard(project)
    context = {
        "project": project,
        "dashboard": dashboard,
        "counts": [(s, ExampleStatus(s).label, n) for s, n in dashboard.status_counts.items()],
        "max_reason": max((n for _, n in dashboard.reasons), default=0),
        "agreement": review_selectors.review_agreement(project) if can_review else None,
        "queue": review_selectors.review_queue_counts(project, request.user, now=timezone.now())
        if can_review
        else None,
        "can_manage": permissions.can_manage_project(request.user, project),
        "drafting": flywheel_selectors.drafting_flywheel(project),
        "trusted_drafts": flywheel_selectors.TRUSTED_DRAFTS,
    }
    return render(request, "annotation/project_dashboard.html", context)


def _bulk_ids(raw: str) -> list[int] | None:
    parts = [p for p in raw.replace(",", " ").split() if p]
    if not parts:
        return None
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ApplicationError("Example ids are whole numbers separated by spaces or commas.") from None


@login_required
@require_http_methods(["GET", "POST"])
def bulk_actions(request, project_id: int):
    """Owners: choose examples by filter or ids, choose an action, confirm, apply."""
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_manage_project(request.user, project), "Only owners run bulk actions.")
    params = request.POST if request.method == "POST" else request.GET
    filters = example_selectors.ExampleFilters.from_query(params)
    form = {
        "ids": params.get("ids", ""),
        "action": params.get("action", ""),
        "new_author": params.get("new_author", ""),
        "reason": params.get("reason", ""),
        "comment": params.get("comment", ""),
    }
    context = {
        "project": project,
        "filters": filters,
        "filter_items": list(asdict(filters).items()),
        "selection_query": urlencode({k: v for k, v in {**asdict(filters), "ids": form["ids"]}.items() if v}),
        "form": form,
        "statuses": ExampleStatus.choices,
        "members": project_selectors.project_members(project),
        "actions": list(review_services.BulkAction.LABELS.items()),
        "confirm": False,
        "error": None,
        "matched": None,
    }
    status = 200
    try:
        ids = _bulk_ids(form["ids"])
        chosen = ids is not None or any((filters.status, filters.category, filters.author, filters.q))
        if chosen:
            selection = review_services.bulk_selection(project=project, example_ids=ids, filters=filters)
            context["matched"], context["preview"] = review_selectors.bulk_preview(selection)
        if request.method == "POST":
            if not chosen:
                selection = review_services.bulk_selection(project=project, example_ids=ids, filters=filters)
            if form["action"] not in review_services.BulkAction.ALL:
                raise ApplicationError("Choose an action.")
            if params.get("confirm") != "yes":
                context["confirm"] = True
                context["action_label"] = review_services.BulkAction.LABELS[form["action"]]
            else:
                result = review_services.examples_bulk(
                    project=project,
                    user=request.user,
                    action=form["action"],
                    examples=selection,
                    new_author=form["new_author"],
                    reason=form["reason"],
                    comment=form["comment"],
                )
                skipped = f", {len(result.skipped)} skipped" if result.skipped else ""
                flash.success(
                    request, f"{review_services.BulkAction.LABELS[result.action]}: {result.changed} changed{skipped}."
                )
                return redirect(reverse("review-bulk", args=[project.pk]) + "?" + context["selection_query"])
    except ApplicationError as exc:
        context["error"] = exc
        status = exc.status_code
    return render(request, "annotation/review_bulk.html", context, status=status)


@login_required
@require_POST
def comment_add(request, project_id: int, example_id: int):
    example = _load_example(request, project_id, example_id)
    try:
        review_services.comment_add(example=example, user=request.user, body=request.POST.get("body", ""))
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Comment added.")
    return redirect(reverse("example-detail", args=[example.project_id, example.pk]) + "#comments")


@login_required
@require_POST
def example_reopen(request, project_id: int, example_id: int):
    example = _load_example(request, project_id, example_id)
    try:
        review_services.review_reopen(example=example, user=request.user, comment=request.POST.get("comment", ""))
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Reopened: the example is back in the review queue.")
    return redirect("example-detail", project_id=example.project_id, example_id=example.pk)
