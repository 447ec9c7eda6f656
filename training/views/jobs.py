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
from annotune.uploads import accept_upload, upload_view
from curated_data import selectors as dataset_selectors
from evaluation.selectors import found as found_selectors
from evaluation.services import control_sets
from serving.selectors import adapters as adapter_selectors

from ..engine import results
from ..forms import LaunchForm, SweepForm, split_counts
from ..models import JobPhase
from ..selectors import jobs as selectors
from ..selectors import sweeps as sweep_selectors
from ..selectors import workers as worker_selectors
from ..selectors.configuration import config_rows
from ..services import jobs as job_services
from ..services import model_sources
from ..services import sweeps as sweep_services
from ..services.estimates import GIB, estimates_request, total_bytes
from ..services.launch_plan import job_spec, method_reason_for


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
        "sweeps": sweep_selectors.sweep_list(project)[:10],
        "can_train": permissions.can_train(request.user, project),
        "control_set": control_sets.control_set_info(project),
    }
    return render(request, "training/job_list.html", context)


@login_required
@require_POST
@upload_view(lambda: settings.ANNOTUNE_KNOWLEDGE_MAX_UPLOAD_BYTES)
def control_set(request, project_id: int):
    """The forgetting check's control set: replace it with a JSONL upload, or go back to the built-in one."""
    project = permissions.project_for(request.user, project_id)
    # Permission, then size, then CSRF, and only then is the body read (upload_view).
    permissions.require(permissions.can_train(request.user, project), "Only project owners can change the control set.")
    refused = accept_upload(request)
    if refused is not None:
        return refused
    try:
        if request.POST.get("action") == "reset":
            info = control_sets.control_set_reset(project=project, user=request.user)
        elif request.FILES.get("file") is None:
            raise ApplicationError("Choose a JSONL file of conversations to upload.")
        else:
            info = control_sets.control_set_replace(project=project, user=request.user, upload=request.FILES["file"])
    except ApplicationError as exc:
        flash.error(request, f"The control set was not changed: {exc.message}")
    else:
        source = "the project's own" if info.source == "project" else "the built-in set"
        flash.success(request, f"Forgetting check control set: {source}, {info.conversations} conversations.")
    return redirect("training-job-list", project_id=project.pk)


def _versions(project) -> list:
    return list(dataset_selectors.versions(project))


def _continuable(project) -> list:
    """Adapters training can continue from: trained by a job of this project, not archived."""
    return list(adapter_selectors.adapter_list(project).filter(job__isnull=False).defer("samples", "metrics"))


@login_required
@require_http_methods(["GET", "POST"])
def job_new(request, project_id: int):
    """The launch form: which dataset version (latest preselected, or `?version=N`), preset, overrides;
    `?continue=<adapter id>` preselects the adapter to continue from. "Compare ranks" launches a sweep."""
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_train(request.user, project), "Only project owners can train adapters.")
    versions = _versions(project)
    adapters = _continuable(project)
    initial = {}
    asked = request.GET.get("version", "")
    if asked:
        if any(str(v.number) == asked for v in versions):
            initial["dataset"] = asked
        else:
            flash.error(request, f"This project has no dataset version {asked!r}; the latest one is selected.")
    parent = request.GET.get("continue", "")
    if parent:
        if any(str(a.pk) == parent for a in adapters):
            initial["continue_from"] = parent
        else:
            flash.error(request, "Training cannot continue from that adapter: it is not a trained adapter here.")
    form = LaunchForm(request.POST or None, versions=versions, adapters=adapters, initial=initial)
    comparing = request.method == "POST" and "compare" in request.POST
    sweep_form = SweepForm(request.POST if comparing else None)
    if request.method == "POST" and form.is_valid():
        if comparing:
            sweep = _launch_sweep(request, project, form, sweep_form)
            if sweep is not None:
                flash.success(request, f"Rank sweep {sweep.pk} queued: {sweep.jobs.count()} training jobs.")
                return redirect("training-sweep-detail", project_id=project.pk, sweep_id=sweep.pk)
        else:
            try:
                launch = job_services.job_start(
                    project=project,
                    user=request.user,
                    preset=form.cleaned_data["preset"],
                    config=form.overrides(),
                    dataset_version=form.dataset_version(),
                    parent_adapter=form.parent_adapter(),
                )
            except ApplicationError as exc:
                _apply_errors(form, exc)
            else:
                _launched(request, launch)
                return redirect("training-job-detail", project_id=project.pk, job_id=launch.job.pk)
    elif comparing:
        sweep_form.is_valid()  # show its errors too
    context = {"project": project, "form": form, "sweep_form": sweep_form, "versions": versions}
    status = 400 if form.errors or sweep_form.errors else 200
    return render(request, "training/job_new.html", context, status=status)


def _launch_sweep(request, project, form, sweep_form):
    if form.parent_adapter() is not None:
        form.add_error("continue_from", "A rank sweep trains new adapters: choose “No” to compare ranks.")
        return None
    if form.dataset_version() is None:
        form.add_error("dataset", "A rank sweep reads a dataset version: create one on the versions page first.")
        return None
    if not sweep_form.is_valid():
        return None
    try:
        return sweep_services.sweep_launch(
            project=project,
            user=request.user,
            dataset_version=form.dataset_version(),
            preset=form.cleaned_data["preset"],
            config=form.overrides(),
            **sweep_form.arguments(),
        )
    except ApplicationError as exc:
        for field in ("ranks", "alpha_rule", "tolerance"):
            for problem in exc.extra.get(field, []):
                sweep_form.add_error("tolerance_percent" if field == "tolerance" else field, problem)
        if not any(field in exc.extra for field in ("ranks", "alpha_rule", "tolerance")):
            form.add_error(None, exc.message)
        return None


@login_required
@require_POST
def job_one_click(request, project_id: int):
    """The Train buttons: the latest dataset version (the first one, made now, when there is none), the
    project's base model, the balanced preset.

    Without a base model or approved examples: back to the project page with the reason. When no version
    can be made here (too many examples for one request, or the dataset checks found errors): to the
    versions page (where one is created) with the reason. Never an error page.
    """
    project = permissions.project_for(request.user, project_id)
    try:
        launch = job_services.job_launch_latest(project=project, user=request.user)
    except ApplicationError as exc:
        flash.error(request, exc.message)
        if "dataset_version" in exc.extra and permissions.can_train(request.user, project):
            return redirect("dataset-versions", project_id=project.pk)
        return redirect("project-detail", project_id=project.pk)
    _launched(request, launch, preset="the balanced preset")
    return redirect("training-job-detail", project_id=project.pk, job_id=launch.job.pk)


def _launched(request, launch: job_services.Launch, *, preset: str = "") -> None:
    """The messages the job page shows after a launch: the version it made, where the job waits, warnings."""
    job, version = launch.job, launch.job.dataset_version
    if launch.note:
        flash.info(request, launch.note)
    settings_used = f" with {preset}" if preset else ""
    waits = " It is estimating the memory it needs first." if job.phase == JobPhase.ESTIMATING else ""
    flash.success(
        request,
        f"Training job {job.pk} queued on dataset version {version.number} ({split_counts(version)})"
        f"{settings_used}.{waits}",
    )
    if warning := dataset_selectors.validation_warning(version):
        flash.warning(request, warning)


@login_required
@require_POST
def job_estimate(request, project_id: int):
    """htmx: the memory / size estimate of what the launch form holds now (the data choice plays no part).
    An estimate not kept yet answers "estimating…" at once and asks a worker (training/services/estimating.py)."""
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_train(request.user, project), "Only project owners can train adapters.")
    form = LaunchForm(request.POST, versions=_versions(project), adapters=_continuable(project))
    context = {"project": project, "device_gib": settings.TRAINING_DEVICE_MEMORY_MB / 1024}
    try:
        form.is_valid()
        if any(name != "dataset" for name in form.errors):
            raise ApplicationError("Fix the highlighted fields to see an estimate.")
        spec = job_spec(
            project=project,
            preset=form.cleaned_data["preset"],
            config=form.overrides(),
            parent_adapter=form.parent_adapter(),
        )
        if spec.missing:  # computed by a worker: this panel asks again until it is kept
            estimates_request(base_model=spec.base_model, configs=spec.missing)
    except ApplicationError as exc:
        context["error"] = exc.message
    else:
        estimate, placement = spec.estimate, spec.placement
        if estimate is None or placement is None:
            context["estimating"] = True
            return render(request, "training/_estimate.html", context)
        context.update(
            estimate=estimate,
            total_gib=(total_bytes(estimate) or 0) / GIB,
            placement=placement,
            refusal=placement.refusal,
            method=spec.config["method"],
            method_reason=spec.plan.method_reason,
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
    """The job page and its progress panel: display-ready rows built from the engine's result schema."""
    job = selectors.job_for(request.user, project_id, job_id)
    adapter = getattr(job, "adapter", None)
    raw_metrics = (adapter.metrics if adapter is not None else None) or (job.result or {}).get("metrics") or {}
    return {
        "project": job.project,
        "job": job,
        "adapter": adapter,
        "can_train": permissions.can_train(request.user, job.project),
        "config_rows": config_rows(job.config),
        "model_card": ""
        if adapter is None
        else adapter_selectors.shown_model_card(adapter, staff=model_sources.is_staff(request.user)),
        "outcome": results.job_outcome(
            status=job.status,
            step=job.step,
            max_steps=job.max_steps,
            raw_metrics=raw_metrics,
            error=job.error,
            error_code=job.error_code,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            resumed_from_step=job.resumed_from_step,
        ),
        "counts": results.example_counts(
            raw_metrics, launched_train=job.train_examples, launched_validation=job.validation_examples
        ),
        "live": {
            "loss": results.format_metric("final_loss", job.loss),
            "eval_loss": results.format_metric("eval_loss", job.eval_loss),
            "learning_rate": results.format_learning_rate(job.learning_rate),
            "tokens_per_second": results.format_metric("tokens_per_second", job.tokens_per_second),
            "eta": results.format_seconds(job.eta_seconds),
        },
        "metric_rows": results.display_metrics(raw_metrics),
        "method_reason": method_reason_for(preset=job.preset, method=job.method, device_type=job.device_type),
        "estimated_peak": results.format_bytes(total_bytes(job.estimate or {})) if job.estimate else "",
        "validation_note": results.validation_note(raw_metrics) if job.status == "succeeded" else "",
        "forgetting": found_selectors.forgetting_for(job) if job.status == "succeeded" else None,
        "samples": results.samples(adapter.samples) if adapter is not None else [],
        "behaviour": results.behaviour_view(adapter.behaviour) if adapter is not None else None,
        "adapter_size": results.format_bytes(adapter.size_bytes) if adapter is not None else "",
        "waiting_note": worker_selectors.waiting_note(job),
    }


@login_required
def job_detail(request, project_id: int, job_id: int):
    context = _job_context(request, project_id, job_id)
    # Flash messages ("Training job 3 queued.") go into the progress panel, which the next poll replaces.
    context["notices"] = list(flash.get_messages(request))
    context["messages"] = ()
    return render(request, "training/job_detail.html", context)


@login_required
def job_progress(request, project_id: int, job_id: int):
    """htmx: the progress panel, polled while the job is active (and its final state once it ended)."""
    return render(request, "training/_progress.html", _job_context(request, project_id, job_id))


@login_required
def job_metrics(request, project_id: int, job_id: int):
    job = selectors.job_for(request.user, project_id, job_id)
    after = request.GET.get("after", "")
    rows = selectors.job_metrics(job, after_step=int(after) if after.isdigit() else None)
    points = list(rows.values("step", "loss", "eval_loss", "learning_rate"))
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
