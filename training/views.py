"""Training pages: jobs list, launch form (with a live estimate), job page with live progress."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotation import permissions
from annotune.errors import ApplicationError

from . import selectors
from .forms import LaunchForm
from .services import jobs as job_services
from .services.estimates import GIB, estimate_for, memory_refusal, total_bytes


def _apply_errors(form, exc: ApplicationError) -> None:
    for field, problems in exc.extra.items():
        name = f"cfg_{field}" if f"cfg_{field}" in form.fields else None
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(name, f"{field}: {problem}" if name is None and field != "config" else str(problem))
    if not exc.extra:
        form.add_error(None, exc.message)


@login_required
def job_list(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    context = {
        "project": project,
        "jobs": selectors.job_list(project)[:100],
        "can_train": permissions.can_train(request.user, project),
    }
    return render(request, "training/job_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def job_new(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_train(request.user, project), "Only project owners can train adapters.")
    form = LaunchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = job_services.job_launch(
                project=project, user=request.user, preset=form.cleaned_data["preset"], config=form.overrides()
            )
        except ApplicationError as exc:
            _apply_errors(form, exc)
        else:
            flash.success(request, f"Training job {job.pk} queued.")
            return redirect("training-job-detail", project_id=project.pk, job_id=job.pk)
    return render(request, "training/job_new.html", {"project": project, "form": form})


@login_required
@require_POST
def job_one_click(request, project_id: int):
    """The project page's Train button: the balanced preset, the project's base model and approved examples."""
    project = permissions.project_for(request.user, project_id)
    try:
        job = job_services.job_launch(project=project, user=request.user, preset=job_services.DEFAULT_PRESET)
    except ApplicationError as exc:
        flash.error(request, exc.message)
        return redirect("project-detail", project_id=project.pk)
    flash.success(request, f"Training job {job.pk} queued with the balanced preset.")
    return redirect("training-job-detail", project_id=project.pk, job_id=job.pk)


@login_required
@require_POST
def job_estimate(request, project_id: int):
    """htmx: the memory / size estimate of what the launch form holds now."""
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_train(request.user, project), "Only project owners can train adapters.")
    form = LaunchForm(request.POST)
    context = {"project": project, "device_gib": settings.TRAINING_DEVICE_MEMORY_MB / 1024}
    try:
        if not form.is_valid():
            raise ApplicationError("Fix the highlighted fields to see an estimate.")
        if project.base_model is None:
            raise ApplicationError("Choose a base model in the project settings first.")
        config = job_services.resolve_config(preset=form.cleaned_data["preset"], config=form.overrides())
        estimate = estimate_for(base_model=project.base_model, config=config)
    except ApplicationError as exc:
        context["error"] = exc.message
    else:
        context.update(
            estimate=estimate,
            total_gib=(total_bytes(estimate) or 0) / GIB,
            refusal=memory_refusal(estimate, settings.TRAINING_DEVICE_MEMORY_MB),
            parts=[
                (label, estimate.get(key, 0) / GIB)
                for key, label in (
                    ("base_weights_bytes", "Base weights"),
                    ("optimizer_bytes", "Optimizer state"),
                    ("gradients_bytes", "Gradients"),
                    ("activations_bytes", "Activations"),
                    ("overhead_bytes", "Runtime overhead"),
                )
            ],
        )
    return render(request, "training/_estimate.html", context)


def _job_context(request, project_id: int, job_id: int) -> dict:
    job = selectors.job_for(request.user, project_id, job_id)
    return {
        "project": job.project,
        "job": job,
        "adapter": getattr(job, "adapter", None),
        "can_train": permissions.can_train(request.user, job.project),
    }


@login_required
def job_detail(request, project_id: int, job_id: int):
    return render(request, "training/job_detail.html", _job_context(request, project_id, job_id))


@login_required
def job_progress(request, project_id: int, job_id: int):
    """htmx: the progress panel, polled while the job is active."""
    return render(request, "training/_progress.html", _job_context(request, project_id, job_id))


@login_required
def job_metrics(request, project_id: int, job_id: int):
    job = selectors.job_for(request.user, project_id, job_id)
    after = request.GET.get("after", "")
    rows = selectors.job_metrics(job, after_step=int(after) if after.isdigit() else None)
    points = list(rows.values("step", "loss", "eval_loss"))
    return JsonResponse({"status": job.status, "points": points})


@login_required
@require_POST
def job_cancel(request, project_id: int, job_id: int):
    job = selectors.job_for(request.user, project_id, job_id)
    try:
        job_services.job_cancel(job=job, user=request.user)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    if request.headers.get("HX-Request"):
        return render(request, "training/_progress.html", _job_context(request, project_id, job_id))
    return redirect("training-job-detail", project_id=project_id, job_id=job_id)
