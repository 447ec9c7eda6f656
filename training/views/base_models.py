"""Pages: the base-model registry (list, add a hub id or folder, build a tiny model, poll a build's row).

Web process: adding checks the model in a child process, building runs on a worker; no torch here.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotation import permissions
from annotune.errors import ApplicationError

from ..models import BaseModel
from ..services import base_models as services


def _require(request) -> None:
    if not permissions.can_manage_base_models(request.user):
        raise PermissionDenied("Only staff and project owners manage base models.")


def _page(request, *, add_errors=None, add_values=None, build_errors=None, status: int = 200):
    from ..engine.tiny import DEFAULT_SIZE

    context = {
        "base_models": BaseModel.objects.order_by("name"),
        "sizes": services.tiny_size_choices(),
        "default_size": DEFAULT_SIZE,
        "default_name": services.default_tiny_name(),
        "add_errors": add_errors or {},
        "add_values": add_values or {},
        "build_errors": build_errors or {},
        "offline": settings.TRAINING_HF_OFFLINE,
    }
    return render(request, "training/base_models/list.html", context, status=status)


@login_required
@require_GET
def base_model_list(request):
    _require(request)
    return _page(request)


@login_required
@require_POST
def base_model_add(request):
    _require(request)
    values = {"name": request.POST.get("name", ""), "source": request.POST.get("source", "")}
    try:
        model = services.base_model_add(user=request.user, name=values["name"], source=values["source"])
    except ApplicationError as exc:
        errors = exc.extra or {}
        if not any(k in errors for k in ("name", "source")):
            errors = {"source": [exc.message]}
        return _page(request, add_errors=errors, add_values=values, status=400)
    note = " (default chat template applied)" if model.template_note else ""
    flash.success(request, f"Added base model “{model.name}”{note}.")
    return redirect("base-model-list")


@login_required
@require_POST
def base_model_build(request):
    _require(request)
    try:
        model = services.tiny_build_request(user=request.user, size=request.POST.get("size", ""))
    except ApplicationError as exc:
        return _page(request, build_errors={"size": [exc.message]}, status=400)
    flash.success(request, f"Building “{model.name}”: its row below shows the progress.")
    return redirect("base-model-list")


@login_required
@require_GET
def base_model_row(request, base_model_id: int):
    """htmx: one row of the table, polled while its build is queued or running."""
    _require(request)
    model = get_object_or_404(BaseModel, pk=base_model_id)
    return render(request, "training/base_models/_row.html", {"m": model})
