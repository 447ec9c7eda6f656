"""Example pages: list with filters, editor, detail with history."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotune.errors import ApplicationError

from .. import permissions
from ..forms import messages_from_post
from ..models import Example, ExampleStatus
from ..selectors import draft_batches as batch_selectors
from ..selectors import drafts as draft_selectors
from ..selectors import examples as example_selectors
from ..selectors import projects as project_selectors
from ..selectors import reviews as review_selectors
from ..services import drafts as draft_services
from ..services import examples as example_services


@login_required
def example_list(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    filters = example_selectors.ExampleFilters.from_query(request.GET)
    try:
        before = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before = None
    rows, next_before = example_selectors.example_page(
        project, filters, before=before, size=settings.ANNOTUNE_PAGE_SIZE
    )
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "project": project,
        "examples": rows,
        "filters": filters,
        "statuses": ExampleStatus.choices,
        "members": project_selectors.project_members(project),
        "next_before": next_before,
        "first_page": before is None,
        "filter_query": query.urlencode(),
        "can_draft_all": permissions.can_draft_all(request.user, project),
        "open_batch": batch_selectors.open_batch(project),
    }
    return render(request, "annotation/example_list.html", context)


def _editor(request, project, *, example: Example | None, turns, form_values, errors=None, status=200):
    notes = draft_selectors.draft_notes(example, turns)
    context = {
        "project": project,
        "example": example,
        "turns": [{**turn, "draft_note": notes.get(i)} for i, turn in enumerate(turns)],
        "drafter": draft_selectors.drafter(project),
        "values": form_values,
        "errors": errors or {},
        "error_message": (errors or {}).get("__message__", ""),
        "roles": ["system", "user", "assistant"],
    }
    return render(request, "annotation/example_editor.html", context, status=status)


def _initial_turns(project) -> list[dict[str, str]]:
    turns = [{"role": "system", "content": project.default_system_prompt}] if project.default_system_prompt else []
    return turns + [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]


def _error_context(exc: ApplicationError) -> dict:
    errors = {"__message__": exc.message}
    for key, problems in exc.extra.items():
        errors[key] = "; ".join(str(p) for p in problems) if isinstance(problems, list) else str(problems)
    return errors


@login_required
@require_http_methods(["GET", "POST"])
def example_create(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_annotate(request.user, project), "You cannot write examples here.")
    if request.method == "GET":
        return _editor(request, project, example=None, turns=_initial_turns(project), form_values={})
    turns = messages_from_post(request.POST)
    values = {
        "category": request.POST.get("category", ""),
        "style_tags": request.POST.getlist("style_tags"),
        "context": request.POST.get("context", "").replace("\r\n", "\n"),
    }
    drafted = request.POST.getlist("draft_generation")
    submit = request.POST.get("action") == "submit"
    try:
        with transaction.atomic():
            example = example_services.example_create(
                project=project, author=request.user, messages=turns, submit=submit, **values
            )
            not_kept = draft_services.drafts_keep(example=example, user=request.user, generation_ids=drafted)
    except ApplicationError as exc:
        return _editor(
            request,
            project,
            example=None,
            turns=turns,
            form_values={**values, "draft_generations": drafted},
            errors=_error_context(exc),
            status=400,
        )
    flash.success(request, "Example submitted for review." if submit else "Draft saved.")
    for note in not_kept:
        flash.info(request, note)
    if submit:
        return redirect("example-list", project_id=project.pk)
    return redirect("example-edit", project_id=project.pk, example_id=example.pk)


def _load_example(request, project_id: int, example_id: int) -> Example:
    project = permissions.project_for(request.user, project_id)
    try:
        return example_selectors.example_detail(project, example_id)
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None


@login_required
@require_http_methods(["GET", "POST"])
def example_edit(request, project_id: int, example_id: int):
    example = _load_example(request, project_id, example_id)
    project = example.project
    if not permissions.can_edit_example(request.user, example):
        if example.status in permissions.EDITABLE_STATUSES:
            raise PermissionDenied("Only the author or a project owner can edit this example.")
        flash.info(request, f"This example is {example.get_status_display().lower()}; it can't be edited now.")
        return redirect("example-detail", project_id=project.pk, example_id=example.pk)
    values = {"category": example.category, "style_tags": example.style_tags, "context": example.context}
    if request.method == "GET":
        return _editor(request, project, example=example, turns=example.messages, form_values=values)
    turns = messages_from_post(request.POST)
    values = {
        "category": request.POST.get("category", ""),
        "style_tags": request.POST.getlist("style_tags"),
        "context": request.POST.get("context", "").replace("\r\n", "\n"),
    }
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    drafted = request.POST.getlist("draft_generation")
    submit = request.POST.get("action") == "submit"
    try:
        # Save and submit are one transaction: a refused submit keeps nothing of the save, as the page
        # then says ("Not saved."), and the version the page keeps is still the current one. The drafts
        # the page asked for are kept with what was saved, in the same transaction.
        with transaction.atomic():
            example = example_services.example_update(
                example=example, user=request.user, version=version, messages=turns, **values
            )
            not_kept = draft_services.drafts_keep(example=example, user=request.user, generation_ids=drafted)
            if submit:
                example_services.example_submit(example=example, user=request.user)
        for note in not_kept:
            flash.info(request, note)
        if submit:
            flash.success(request, "Example submitted for review.")
            return redirect("example-list", project_id=project.pk)
    except ApplicationError as exc:
        # Keep what the user typed; a stale version keeps the version they edited so they can compare.
        example.version = version if version > 0 else example.version
        return _editor(
            request,
            project,
            example=example,
            turns=turns,
            form_values={**values, "draft_generations": drafted},
            errors=_error_context(exc),
            status=exc.status_code,
        )
    flash.success(request, f"Saved (version {example.version}).")
    return redirect("example-edit", project_id=project.pk, example_id=example.pk)


@login_required
def example_detail(request, project_id: int, example_id: int):
    example = _load_example(request, project_id, example_id)
    context = {
        "project": example.project,
        "example": example,
        "revisions": example_selectors.example_revisions(example),
        "draft_diffs": draft_selectors.draft_diffs(example),
        "transitions": example_selectors.example_transitions(example),
        "can_edit": permissions.can_edit_example(request.user, example),
        "can_see_comments": permissions.can_see_comments(request.user, example),
        "comments": review_selectors.example_comments(example),
        "can_reopen": example.status == ExampleStatus.APPROVED
        and permissions.can_manage_project(request.user, example.project),
    }
    return render(request, "annotation/example_detail.html", context)


@login_required
@require_POST
def example_submit(request, project_id: int, example_id: int):
    example = _load_example(request, project_id, example_id)
    try:
        example_services.example_submit(example=example, user=request.user)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Example submitted for review.")
    return redirect("example-detail", project_id=example.project_id, example_id=example.pk)
