"""Pages: the base-model registry (list, add a hub id or folder, build a tiny model, poll a row).

Web process: adding and building queue a row that a worker checks or builds; no torch here. Server
paths (a local model's folder) are shown to staff only.
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
from ..services import model_sources


def _require(request) -> None:
    if not permissions.can_manage_base_models(request.user):
        raise PermissionDenied("Only staff and project owners manage base models.")


def _shown(request, model: BaseModel) -> BaseModel:
    """The row with what this person may see of its source (`visible_source`; paths: staff only)."""
    staff = model_sources.is_staff(request.user)
    model.visible_source = services.source_label(model, staff=staff)
    model.show_load_path = staff and bool(model.requested_source)
    return model


def _page(request, *, add_errors=None, add_values=None, build_errors=None, status: int = 200):
    from ..engine.tiny import DEFAULT_SIZE

    context = {
        "base_models": [_shown(request, m) for m in BaseModel.objects.order_by("name")],
        "sizes": services.tiny_size_choices(),
        "default_size": DEFAULT_SIZE,
        "default_name": services.default_tiny_name(),
        "add_errors": add_errors or {},
        "add_values": add_values or {},
        "build_errors": build_errors or {},
        "offline": settings.TRAINING_HF_OFFLINE,
        "staff": model_sources.is_staff(request.user),
        "model_roots": bool(settings.ANNOTUNE_MODEL_ROOTS),
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
    flash.success(request, f"Checking “{model.name}”: its row below says when it is ready.")
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
    """htmx: one row of the table, polled while its check or build is queued or running."""
    _require(request)
    model = get_object_or_404(BaseModel, pk=base_model_id)
    return render(request, "training/base_models/_row.html", {"m": _shown(request, model)})
