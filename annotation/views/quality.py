"""Quality pages: inline validation in the editor, fixes, knowledge base, data health, check help."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotune.errors import ApplicationError
from annotune.uploads import accept_upload, upload_view

from .. import permissions
from ..forms import messages_from_post
from ..models import Example, Fact, KnowledgeDocument
from ..selectors import examples as example_selectors
from ..selectors import quality as quality_selectors
from ..services import examples as example_services
from ..services import knowledge as knowledge_services
from ..services import validation
from ..services import validation_runs as run_services


def _load_example(request, project_id: int, example_id: int) -> Example:
    project = permissions.project_for(request.user, project_id)
    try:
        return example_selectors.example_detail(project, example_id)
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None


@login_required
@require_POST
def editor_validate(request, project_id: int):
    """htmx: findings for the editor's unsaved text (nothing is written). With `fix`, the fix is
    applied to the posted text and the fixed turns come back for the editor to put in place."""
    project = permissions.project_for(request.user, project_id)
    turns = messages_from_post(request.POST)
    category, style_tags = request.POST.get("category", ""), request.POST.getlist("style_tags")
    fixed = None
    code = request.POST.get("fix", "")
    try:
        if code:
            turns = fixed = validation.fixed_messages(project, turns, code)
        findings = validation.validate_draft(
            project=project,
            user=request.user,
            messages=turns,
            category=category,
            style_tags=style_tags,
            context=request.POST.get("context", ""),
        )
    except ApplicationError as exc:
        return render(request, "annotation/quality/_editor_error.html", {"message": exc.message}, status=400)
    context = {
        "project": project,
        "findings": findings,
        "turns": turns,
        "fixed": fixed,
        "fix_url": reverse("editor-validate", args=[project.pk]),
        "untouched": validation.draft_untouched(turns),
    }
    return render(request, "annotation/quality/_editor_findings.html", context)


@login_required
@require_POST
def example_fix(request, project_id: int, example_id: int):
    """Apply one fix to a saved example; it becomes a new revision. A stale version gets 409."""
    example = _load_example(request, project_id, example_id)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    try:
        example_services.example_apply_fix(
            example=example, user=request.user, version=version, code=request.POST.get("code", "")
        )
    except ApplicationError as exc:
        if exc.status_code == 409:
            return render(
                request,
                "annotation/quality/_editor_error.html",
                {"message": exc.message, "project": example.project},
                status=409,
            )
        flash.error(request, exc.message)
    else:
        flash.success(request, "Fix applied and saved as a new revision.")
    return redirect("example-edit", project_id=example.project_id, example_id=example.pk)


def _posted_id(request) -> int:
    """The row id a delete button posts; anything but a positive whole number in range is "not found"."""
    raw = request.POST.get("id", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not 0 < int(raw) < 2**63:
        raise Http404("No such entry in this project's knowledge base.")
    return int(raw)


@login_required
@require_http_methods(["GET", "POST"])
@upload_view(lambda: settings.ANNOTUNE_KNOWLEDGE_MAX_UPLOAD_BYTES)
def knowledge(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    can_manage = knowledge_services.can_manage(request.user, project)
    error_message = ""
    if request.method == "POST":
        # Permission, then size, then CSRF, and only then is the body read (upload_view).
        if not can_manage:
            raise PermissionDenied("Only reviewers and owners manage the knowledge base.")
        refused = accept_upload(request)
        if refused is not None:
            return refused
        action = request.POST.get("action", "")
        try:
            if action == "document":
                upload = request.FILES.get("file")
                text = request.POST.get("text", "")
                title = request.POST.get("title", "")
                if upload is not None:
                    text = knowledge_services.decode_upload(upload)
                    title = title or upload.name
                knowledge_services.document_add(project=project, user=request.user, title=title, text=text)
                flash.success(request, "Document added to the knowledge base.")
            elif action == "delete-document":
                document = get_object_or_404(KnowledgeDocument, project=project, pk=_posted_id(request))
                knowledge_services.document_delete(document=document, user=request.user)
                flash.success(request, "Document removed.")
            elif action == "fact":
                knowledge_services.fact_add(
                    project=project,
                    user=request.user,
                    statement=request.POST.get("statement", ""),
                    source=request.POST.get("source", ""),
                )
                flash.success(request, "Fact added.")
            elif action == "delete-fact":
                fact = get_object_or_404(Fact, project=project, pk=_posted_id(request))
                knowledge_services.fact_delete(fact=fact, user=request.user)
                flash.success(request, "Fact removed.")
            else:
                raise ApplicationError("Unknown action.")
        except ApplicationError as exc:
            error_message = exc.message
        else:
            return redirect("knowledge", project_id=project.pk)
    context = {
        "project": project,
        "can_manage": can_manage,
        "documents": quality_selectors.knowledge_documents(project),
        "facts": quality_selectors.facts(project),
        "verifications": quality_selectors.claim_verifications(project),
        "error_message": error_message,
    }
    return render(request, "annotation/quality/knowledge.html", context, status=400 if error_message else 200)


@login_required
@require_POST
def claim_verify(request, project_id: int, example_id: int):
    """A reviewer marks a claim of this example verified with a source (from the review screen)."""
    example = _load_example(request, project_id, example_id)
    try:
        knowledge_services.claim_verify(
            project=example.project,
            user=request.user,
            claim=request.POST.get("claim", ""),
            source=request.POST.get("source", ""),
        )
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        validation.validate_example_row(example)
        flash.success(request, "Claim marked verified.")
    if permissions.can_review(request.user, example.project) and example.status == "submitted":
        return redirect("review-screen", project_id=example.project_id, example_id=example.pk)
    return redirect("example-detail", project_id=example.project_id, example_id=example.pk)


@login_required
@require_http_methods(["GET", "POST"])
def data_health(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    if request.method == "POST":
        try:
            run_services.run_start(project=project, user=request.user)
        except ApplicationError as exc:
            flash.error(request, exc.message)
        else:
            flash.success(request, "Validation run queued.")
        return redirect("data-health", project_id=project.pk)
    runs = quality_selectors.run_history(project)
    latest = quality_selectors.latest_finished_run(project)
    active = next((r for r in runs if r.is_active), None)
    context = {
        "project": project,
        "runs": runs,
        "active": active,
        "waiting_note": quality_selectors.waiting_note(active) if active else "",
        "latest": latest,
        "view": quality_selectors.report_view(project, latest.report if latest else None),
        "can_run": run_services.can_run(request.user, project),
    }
    return render(request, "annotation/quality/data_health.html", context)


@login_required
@require_GET
def run_progress(request, project_id: int, run_id: int):
    """htmx polling fragment: the run's progress bar; tells the page to reload when it finished."""
    project = permissions.project_for(request.user, project_id)
    run = quality_selectors.run_for(project, run_id)
    context = {"project": project, "run": run, "waiting_note": quality_selectors.waiting_note(run)}
    response = render(request, "annotation/quality/_run_progress.html", context)
    if not run.is_active:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_GET
def run_detail(request, project_id: int, run_id: int):
    project = permissions.project_for(request.user, project_id)
    run = quality_selectors.run_for(project, run_id)
    context = {
        "project": project,
        "run": run,
        "latest": run,
        "view": quality_selectors.report_view(project, run.report if not run.is_active else None),
        "runs": [],
        "can_run": False,
    }
    return render(request, "annotation/quality/data_health.html", context)


@login_required
@require_GET
def check_help(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    context = {"project": project, "entries": quality_selectors.check_entries(project)}
    return render(request, "annotation/quality/checks.html", context)
