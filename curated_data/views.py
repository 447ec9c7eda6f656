"""Pages: import (upload, CSV mapping, progress, report), export, versions (list, detail, diff)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation import permissions as annotation_permissions
from annotation.models import ExampleStatus
from annotation.selectors import examples as example_selectors
from annotation.selectors import projects as project_selectors
from annotune.errors import ApplicationError
from annotune.uploads import accept_upload, upload_view

from . import permissions, selectors
from .apis import export_response, version_file_response
from .formats.containers import guess_csv_mapping
from .formats.rendering import EXPORT_FORMATS
from .forms import ImportForm, MappingForm, VersionForm
from .models import ImportStatus, VersionBuild
from .services import imports, versions

DIFF_SHOWN = 200


def _service_errors(form, exc: ApplicationError) -> None:
    for key, problems in exc.extra.items():
        if key == "report":
            continue
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(key if key in form.fields else None, str(problem))
    form.add_error(None, exc.message)


@login_required
@require_http_methods(["GET", "POST"])
@upload_view(lambda: settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES)
def import_page(request, project_id: int):
    project = annotation_permissions.project_for(request.user, project_id)
    can_import = permissions.can_import(request.user, project)
    if request.method == "POST":
        # Permission, then size, then CSRF; only then is the upload read (streamed to a temp file).
        if not can_import:
            raise PermissionDenied("Only project owners can import examples.")
        refused = accept_upload(request)
        if refused is not None:
            return refused
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = imports.import_create(
                    project=project,
                    user=request.user,
                    upload=data["file"],
                    file_format=data["file_format"] or "auto",
                    skip_bad_rows=data["skip_bad_rows"],
                    keep_duplicates=data["keep_duplicates"],
                    initial_status=data["status"],
                    ask_mapping=True,
                )
            except ApplicationError as exc:
                _service_errors(form, exc)
            else:
                if job.status == ImportStatus.AWAITING_MAPPING:
                    return redirect("dataset-import-mapping", project_id=project.pk, job_id=job.pk)
                flash.success(request, f"“{job.original_name}” uploaded; the import is queued.")
                return redirect("dataset-import-detail", project_id=project.pk, job_id=job.pk)
    context = {
        "project": project,
        "form": form,
        "can_import": can_import,
        "jobs": selectors.import_jobs(project)[:20],
        "max_bytes": settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES,
        "max_rows": settings.ANNOTUNE_IMPORT_MAX_ROWS,
    }
    return render(request, "datasets/import.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def import_mapping(request, project_id: int, job_id: int):
    project = annotation_permissions.project_for(request.user, project_id)
    job = selectors.import_job(project, job_id)
    if not permissions.can_import(request.user, project):
        raise PermissionDenied("Only project owners can import examples.")
    if job.status != ImportStatus.AWAITING_MAPPING:
        return redirect("dataset-import-detail", project_id=project.pk, job_id=job.pk)
    try:
        columns = imports.csv_columns(job)
    except ApplicationError as exc:
        columns, header_error = [], exc.message
    else:
        header_error = ""
    initial = guess_csv_mapping(columns)
    form = MappingForm(request.POST or None, columns=columns, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            imports.import_set_mapping(job=job, user=request.user, mapping=form.cleaned_data)
        except ApplicationError as exc:
            _service_errors(form, exc)
        else:
            flash.success(request, "Columns mapped; the import is queued.")
            return redirect("dataset-import-detail", project_id=project.pk, job_id=job.pk)
    context = {"project": project, "job": job, "form": form, "columns": columns, "header_error": header_error}
    return render(request, "datasets/import_mapping.html", context, status=400 if form.errors else 200)


def _job_context(request, project, job) -> dict:
    return {
        "project": project,
        "job": job,
        "can_retry": permissions.can_import(request.user, project) and imports.can_retry(job),
        "can_draft_all": annotation_permissions.can_draft_all(request.user, project),
        "errors": (job.report or {}).get("errors", []),
    }


@login_required
def import_detail(request, project_id: int, job_id: int):
    project = annotation_permissions.project_for(request.user, project_id)
    job = selectors.import_job(project, job_id)
    return render(request, "datasets/import_detail.html", _job_context(request, project, job))


@login_required
def import_progress(request, project_id: int, job_id: int):
    """The htmx fragment polled while the job runs (it stops polling once the job has finished)."""
    project = annotation_permissions.project_for(request.user, project_id)
    job = selectors.import_job(project, job_id)
    return render(request, "datasets/_import_progress.html", _job_context(request, project, job))


@login_required
@require_POST
def import_retry(request, project_id: int, job_id: int):
    project = annotation_permissions.project_for(request.user, project_id)
    job = selectors.import_job(project, job_id)
    skip = {"1": True, "0": False}.get(request.POST.get("skip_bad_rows", ""))
    try:
        imports.import_retry(job=job, user=request.user, skip_bad_rows=skip)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "The import is queued again.")
    return redirect("dataset-import-detail", project_id=project.pk, job_id=job.pk)


@login_required
def export_page(request, project_id: int):
    project = annotation_permissions.project_for(request.user, project_id)
    if not permissions.can_export(request.user, project):
        raise PermissionDenied("You cannot export from this project.")
    if request.GET.get("download"):
        return export_response(project, request.user, request.GET)
    context = {
        "project": project,
        "filters": example_selectors.ExampleFilters.from_query(request.GET),
        "statuses": ExampleStatus.choices,
        "members": project_selectors.project_members(project),
        "formats": [(name, spec[2]) for name, spec in EXPORT_FORMATS.items()],
        "file_format": request.GET.get("file_format") or "messages",
    }
    return render(request, "datasets/export.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def version_list(request, project_id: int):
    project = annotation_permissions.project_for(request.user, project_id)
    can_create = permissions.can_create_version(request.user, project)
    form = VersionForm(request.POST or None)
    report = None
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied("Only project owners can create dataset versions.")
        if form.is_valid():
            try:
                version = versions.version_request(project=project, user=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                report = exc.extra.get("report")
                _service_errors(form, exc)
            else:
                if isinstance(version, VersionBuild):  # many examples: a worker builds it
                    return redirect("dataset-version-build", project_id=project.pk, build_id=version.pk)
                flash.success(request, f"Version {version.number} created ({version.example_count} examples).")
                if warning := selectors.validation_warning(version):
                    flash.warning(request, warning)
                return redirect("dataset-version", project_id=project.pk, number=version.number)
    page = selectors.version_page(project, request.GET.get("page"))
    context = {
        "project": project,
        "page": page,
        "versions": page.object_list,
        "numbers": selectors.version_numbers(project),
        "builds": selectors.open_builds(project),
        "inline_max": settings.ANNOTUNE_VERSION_INLINE_MAX,
        "form": form,
        "can_create": can_create,
        "report": report,
        "approved": project_selectors.project_status_counts(project).get(ExampleStatus.APPROVED, 0),
        "can_train": annotation_permissions.can_train(request.user, project),
    }
    return render(request, "datasets/version_list.html", context, status=400 if form.errors else 200)


def _build_context(request, project_id: int, build_id: int) -> dict:
    project = annotation_permissions.project_for(request.user, project_id)
    return {
        "project": project,
        "build": selectors.build_get(project, build_id),
        "inline_max": settings.ANNOTUNE_VERSION_INLINE_MAX,
    }


@login_required
def version_build(request, project_id: int, build_id: int):
    """A large version being built by a worker: where it is, then a link to the version (or why not)."""
    return render(request, "datasets/version_build.html", _build_context(request, project_id, build_id))


@login_required
def version_build_progress(request, project_id: int, build_id: int):
    """htmx: the build's panel, polled while it runs; once built, the page moves to the version."""
    context = _build_context(request, project_id, build_id)
    response = render(request, "datasets/_version_build.html", context)
    build = context["build"]
    if build.version_id is not None:
        response["HX-Redirect"] = reverse("dataset-version", args=[project_id, build.version.number])
    return response


@login_required
def version_detail(request, project_id: int, number: int):
    project = annotation_permissions.project_for(request.user, project_id)
    version = selectors.version_get(project, number)
    others = selectors.versions(project).exclude(pk=version.pk).values_list("number", flat=True)
    context = {
        "project": project,
        "version": version,
        "others": list(others),
        "can_train": annotation_permissions.can_train(request.user, project),
    }
    return render(request, "datasets/version_detail.html", context)


@login_required
def version_download(request, project_id: int, number: int, part: str):
    project = annotation_permissions.project_for(request.user, project_id)
    return version_file_response(selectors.version_get(project, number), part)


@login_required
def version_diff(request, project_id: int):
    project = annotation_permissions.project_for(request.user, project_id)
    base = selectors.version_get(project, request.GET.get("base"))
    target = selectors.version_get(project, request.GET.get("target"))
    diff = selectors.version_diff(base, target)
    context = {
        "project": project,
        "diff": diff,
        "shown": DIFF_SHOWN,
        "sections": [
            ("Added", diff.added[:DIFF_SHOWN], len(diff.added)),
            ("Removed", diff.removed[:DIFF_SHOWN], len(diff.removed)),
            ("Changed", diff.changed[:DIFF_SHOWN], len(diff.changed)),
        ],
    }
    return render(request, "datasets/version_diff.html", context)
