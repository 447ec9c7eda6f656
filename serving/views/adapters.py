"""Pages: adapter registry, detail, compare, combine, merges, GGUF exports, and the playground."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation import permissions
from annotune.errors import ApplicationError, retry_headers
from evaluation.selectors import found as found_selectors
from training.selectors.configuration import labelled_rows
from training.services import model_sources

from ..models import OperationKind
from ..selectors import adapters as selectors
from ..selectors import generations as generation_selectors
from ..selectors import gguf_exports as gguf_selectors
from ..services import adapters as adapter_services
from ..services import generation as generation_services
from ..services import gguf_exports as gguf_services
from ..services.generation import DEFAULT_PARAMS


def _stream(filename: str, chunks) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def adapter_list(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    show_archived = request.GET.get("archived") == "1"
    adapters = list(selectors.adapter_list(project, include_archived=show_archived))
    chains = selectors.adapter_chains(project) if adapters else {}
    context = {
        "project": project,
        "adapters": adapters,
        "rows": [selectors.adapter_row(adapter, chains.get(adapter.pk)) for adapter in adapters],
        "show_archived": show_archived,
        "can_manage": permissions.can_train(request.user, project),
        "operations": selectors.operation_list(project)[:10],
    }
    return render(request, "serving/adapters/list.html", context)


@login_required
def adapter_detail(request, project_id: int, adapter_id: int):
    project = permissions.project_for(request.user, project_id)
    adapter = selectors.adapter_get(project, adapter_id)
    gguf = gguf_selectors.gguf_view(gguf_selectors.latest_export(adapter))
    context = {
        "project": project,
        "adapter": adapter,
        "config": labelled_rows(selectors.adapter_config_view(adapter)),
        "shown": selectors.adapter_display(adapter),
        "serving": selectors.serving_recipes(adapter, gguf, staff=model_sources.is_staff(request.user)),
        "model_card": selectors.shown_model_card(adapter, staff=model_sources.is_staff(request.user)),
        "gguf": gguf,
        "merges": selectors.operation_list(project).filter(adapter=adapter, kind=OperationKind.MERGE),
        "forgetting": found_selectors.forgetting_for(adapter.job),
        "can_manage": permissions.can_train(request.user, project),
        "chain": selectors.adapter_chains(project).get(adapter.pk, []),
        "blind_prefill": selectors.behaviour_prefill(adapter) is not None,
    }
    return render(request, "serving/adapters/detail.html", context)


@login_required
@require_POST
def adapter_change(request, project_id: int, adapter_id: int):
    project = permissions.project_for(request.user, project_id)
    adapter = selectors.adapter_get(project, adapter_id)
    action = request.POST.get("action")
    changes = {
        "rename": {"name": request.POST.get("name")},
        "archive": {"archived": True},
        "unarchive": {"archived": False},
        "activate": {"active": True},
        "deactivate": {"active": False},
    }.get(action)
    if changes is None:
        raise ApplicationError(f"Unknown action {action!r}.")
    try:
        adapter_services.adapter_update(adapter=adapter, user=request.user, **changes)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Adapter updated.")
    return redirect("adapter-detail", project_id=project.pk, adapter_id=adapter.pk)


@login_required
@require_http_methods(["GET", "POST"])
def adapter_delete(request, project_id: int, adapter_id: int):
    project = permissions.project_for(request.user, project_id)
    adapter = selectors.adapter_get(project, adapter_id)
    permissions.require(permissions.can_train(request.user, project), "Only project owners can delete adapters.")
    if request.method == "POST":
        if request.POST.get("confirm") != adapter.name:
            flash.error(request, "Type the adapter's name to confirm.")
        else:
            adapter_services.adapter_delete(adapter=adapter, user=request.user)
            flash.success(request, f"Adapter “{adapter.name}” and its files were deleted.")
            return redirect("adapter-list", project_id=project.pk)
    return render(request, "serving/adapters/delete.html", {"project": project, "adapter": adapter})


@login_required
def adapter_download(request, project_id: int, adapter_id: int):
    adapter = selectors.adapter_get(permissions.project_for(request.user, project_id), adapter_id)
    staff = model_sources.is_staff(request.user)
    return _stream(*adapter_services.adapter_download(adapter=adapter, staff=staff))


@login_required
@require_POST
def adapter_merge(request, project_id: int, adapter_id: int):
    project = permissions.project_for(request.user, project_id)
    adapter = selectors.adapter_get(project, adapter_id)
    operation = adapter_services.merge_request(adapter=adapter, user=request.user)
    flash.success(request, "Merge queued.")
    return redirect("operation-detail", project_id=project.pk, operation_id=operation.pk)


@login_required
@require_POST
def adapter_gguf_export(request, project_id: int, adapter_id: int):
    project = permissions.project_for(request.user, project_id)
    adapter = selectors.adapter_get(project, adapter_id)
    try:
        gguf_services.gguf_export_request(adapter=adapter, user=request.user)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "GGUF export queued: the files appear below when the worker has written them.")
    return redirect(reverse("adapter-detail", args=[project.pk, adapter.pk]) + "#local-runtimes")


@login_required
def operation_gguf_download(request, project_id: int, operation_id: int, part: str):
    project = permissions.project_for(request.user, project_id)
    operation = selectors.operation_get(project, operation_id)
    filename, chunks = gguf_services.gguf_download(operation=operation, part=part)
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def adapter_compare(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    adapters = list(selectors.adapter_list(project, include_archived=True))
    a_id, b_id = request.GET.get("a"), request.GET.get("b")
    comparison = a = b = None
    if a_id and b_id:
        a, b = selectors.adapter_get(project, a_id), selectors.adapter_get(project, b_id)
        comparison = selectors.adapter_compare(a, b)
    context = {
        "project": project,
        "adapters": adapters,
        "a": a,
        "b": b,
        "comparison": comparison,
        "forgetting_a": found_selectors.forgetting_for(a.job) if a else None,
        "forgetting_b": found_selectors.forgetting_for(b.job) if b else None,
        "behaviour": selectors.behaviour_compare(a, b) if a and b else None,
    }
    return render(request, "serving/adapters/compare.html", context)


DORA_REASON = "DoRA adapter: its magnitude vectors have no weighted sum, so it cannot be combined (merge it instead)."


def _combine_ineligible(adapter) -> str:
    """Why `add_weighted_adapter` cannot take this adapter (serving/inference/combine.py), or ""."""
    if selectors.is_dora(adapter):
        return DORA_REASON
    if not adapter.storage_path:
        return "Its files are missing from storage."
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def adapter_combine(request, project_id: int):
    """Pick adapters, weights, method and a name; ineligible adapters are shown disabled with the reason.

    After an error the form keeps what was chosen.
    """
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_train(request.user, project), "Only project owners can combine adapters.")
    adapters = list(selectors.adapter_list(project))
    reasons = {adapter.pk: _combine_ineligible(adapter) for adapter in adapters}
    posted = {"chosen": set(), "weights": {}, "method": "cat", "name": ""}
    error = None
    if request.method == "POST":
        posted["method"] = request.POST.get("method", "cat")
        posted["name"] = request.POST.get("name", "")
        sources = []
        for adapter in adapters:
            raw = request.POST.get(f"weight_{adapter.pk}")
            if raw is not None:
                posted["weights"][adapter.pk] = raw
            if request.POST.get(f"use_{adapter.pk}"):
                posted["chosen"].add(adapter.pk)
                try:
                    weight = float(raw or 1)
                except ValueError:
                    weight = float("nan")
                sources.append({"adapter_id": adapter.pk, "weight": weight, "name": adapter.name})
        try:
            bad = [s["name"] for s in sources if s["weight"] != s["weight"]]
            if bad:
                raise ApplicationError(f"Weights must be numbers (check the weight of {', '.join(bad)}).")
            refused = [f"{a.name}: {reasons[a.pk]}" for a in adapters if a.pk in posted["chosen"] and reasons[a.pk]]
            if refused:
                raise ApplicationError("These adapters cannot be combined: " + " ".join(refused))
            operation = adapter_services.combine_request(
                project=project,
                user=request.user,
                sources=[{"adapter_id": s["adapter_id"], "weight": s["weight"]} for s in sources],
                method=posted["method"],
                name=posted["name"],
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            flash.success(request, "Combination queued.")
            return redirect("operation-detail", project_id=project.pk, operation_id=operation.pk)
    rows = [
        {
            "adapter": adapter,
            "reason": reasons[adapter.pk],
            "chosen": adapter.pk in posted["chosen"],
            "weight": posted["weights"].get(adapter.pk, "1.0"),
        }
        for adapter in adapters
    ]
    context = {
        "project": project,
        "rows": rows,
        "eligible": sum(1 for row in rows if not row["reason"]),
        "error": error,
        "posted": posted,
        "methods": adapter_services.COMBINE_METHODS,
    }
    return render(request, "serving/adapters/combine.html", context, status=400 if error else 200)


@login_required
def operation_detail(request, project_id: int, operation_id: int):
    project = permissions.project_for(request.user, project_id)
    operation = selectors.operation_get(project, operation_id)
    context = {"project": project, "operation": operation, "can_manage": permissions.can_train(request.user, project)}
    if request.headers.get("HX-Request"):
        return render(request, "serving/adapters/_operation.html", context)
    return render(request, "serving/adapters/operation.html", context)


@login_required
def operation_download(request, project_id: int, operation_id: int):
    project = permissions.project_for(request.user, project_id)
    operation = selectors.operation_get(project, operation_id)
    return _stream(*adapter_services.merged_download(operation=operation))


@login_required
@require_POST
def operation_register(request, project_id: int, operation_id: int):
    project = permissions.project_for(request.user, project_id)
    operation = selectors.operation_get(project, operation_id)
    try:
        base = adapter_services.merged_register(operation=operation, user=request.user, name=request.POST.get("name"))
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, f"Registered as base model “{base.name}”.")
    return redirect("operation-detail", project_id=project.pk, operation_id=operation.pk)


@login_required
@require_http_methods(["GET", "POST"])
def playground(request, project_id: int):
    """The form, and the answers it asks for. A POST queues the request and answers at once with its
    first state; the answers then poll `generation_partial`. The page's address names the request
    (`?request=<id>`), so a reload shows the answers so far and keeps polling."""
    project = permissions.project_for(request.user, project_id)
    adapters = list(selectors.adapter_list(project))
    if request.method == "POST":
        targets: list[int | None] = [None] if request.POST.get("base") else []
        # Ids only: isdigit() alone admits '²' and digit strings longer than any id, which int() refuses.
        targets += [int(v) for v in request.POST.getlist("adapters") if v.isascii() and v.isdigit() and len(v) <= 18]
        params = {}
        for key, cast in (("max_new_tokens", int), ("temperature", float), ("top_p", float), ("seed", int)):
            value = request.POST.get(key, "").strip()
            if value:
                try:
                    params[key] = cast(value)
                except ValueError:
                    params[key] = value  # reported by the service
        messages = generation_services.parse_chat_text(request.POST.get("conversation", ""))
        system = request.POST.get("system", "").strip()
        if system and messages and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": system})
        try:
            generation = generation_services.generation_request(
                project=project, user=request.user, messages=messages, targets=targets, params=params
            )
        except ApplicationError as exc:  # 400: what to fix; 429: too many requests in flight (Retry-After)
            context = {"error": exc, **refusal_lines(exc)}
            refused = render(request, "serving/adapters/_generation.html", context, status=exc.status_code)
            for name, value in retry_headers(exc).items():
                refused[name] = value
            return refused
        response = _generation(request, project, generation_selectors.generation_get_watched(project, generation.pk))
        response["HX-Push-Url"] = f"{reverse('playground', args=[project.pk])}?request={generation.pk}"
        return response
    watched = None
    system, conversation, params = project.default_system_prompt, "", DEFAULT_PARAMS
    chosen: set[int | None] = {None} | {a.pk for a in adapters if a.is_active}
    if request.GET.get("adapter", "").isdigit():
        chosen.add(int(request.GET["adapter"]))
    if request.GET.get("request"):  # a reload, or a link to a request: its answers (so far) and its form
        generation = generation_selectors.generation_get_watched(project, request.GET["request"])
        watched = _watch_context(generation, staff=model_sources.is_staff(request.user))
        system, conversation = generation_services.chat_text(generation.messages)
        params = {**DEFAULT_PARAMS, **(generation.params or {})}
        chosen = {t["adapter_id"] for t in generation.targets}
    context = {
        "project": project,
        "adapters": adapters,
        "choices": [
            {"adapter": a, "refusal": selectors.serving_refusal(a), "checked": a.pk in chosen} for a in adapters
        ],
        "base_checked": None in chosen,
        "backend": settings.ANNOTUNE_INFERENCE_BACKEND,
        "active": next((a for a in adapters if a.is_active), None),
        "defaults": params,
        "system": system,
        "conversation": conversation,
        "watched": watched,
    }
    return render(request, "serving/adapters/playground.html", context)


@login_required
def generation_partial(request, project_id: int, request_id: int):
    """The playground's short poll: the answers so far, answered at once (no waiting in the web process)."""
    project = permissions.project_for(request.user, project_id)
    return _generation(request, project, generation_selectors.generation_get_watched(project, request_id))


# The playground's names for the fields a refusal may name (the form's labels).
FIELD_LABELS = {
    "max_new_tokens": "Max new tokens",
    "temperature": "Temperature",
    "top_p": "Top-p",
    "seed": "Seed",
    "targets": "Answer with",
    "adapter": "Adapter",
    "messages": "Conversation",
    "non_field_errors": "",
}
TURN_FIELD = re.compile(r"^messages\[(\d+)\]")


def refusal_lines(exc: ApplicationError) -> dict[str, Any]:
    """A refusal's field problems for the page: sentences under the form's names (`lines`), and the
    short codes some carry (`archived`, `base_model_mismatch`) only for a tooltip (`codes`)."""
    lines, codes = [], []
    for field, problems in exc.extra.items():
        turn = TURN_FIELD.match(field)
        label = (
            f"Turn {int(turn.group(1)) + 1}" if turn else FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
        )
        for problem in problems if isinstance(problems, list) else [problems]:
            text = str(problem)
            if " " in text.strip():
                lines.append(f"{label}: {text}" if label else text)
            else:
                codes.append(f"{field}: {text}")
    return {"lines": lines, "codes": "; ".join(codes)}


TINY_PARAMETERS = 50_000_000


def answer_hint(output: dict, *, max_new_tokens: int, base_model) -> str:
    """Why an answer is empty or cut short, from what the worker recorded (text, new tokens), or ""."""
    text = str(output.get("text") or "")
    new_tokens = int(output.get("new_tokens") or 0)
    finish = output.get("finish_reason")  # recorded by newer workers; derived from the counts otherwise
    cut = finish == "length" or (finish is None and new_tokens >= max_new_tokens)
    tiny = (base_model.parameter_count or TINY_PARAMETERS) < TINY_PARAMETERS or "tiny" in base_model.name.lower()
    untrained = (
        f" The base model “{base_model.name}” looks like a tiny test model with random weights: its answers are "
        "noise until an adapter is trained on real data."
        if tiny
        else ""
    )
    if text.strip():
        if cut:
            return f"Cut at max tokens ({max_new_tokens}): raise Max new tokens for a longer answer."
        return ""
    if new_tokens == 0:
        return (
            "Empty answer: generation stopped at once, because the first token the model chose was its "
            "end-of-turn token." + untrained
        )
    if cut:
        return (
            f"Empty answer: the model used all {max_new_tokens} new tokens (cut at max tokens), but they decode "
            "to nothing visible (special or whitespace tokens)." + untrained
        )
    return (
        f"Empty answer: the model produced {new_tokens} token{'s' if new_tokens != 1 else ''} that decode to "
        "nothing visible (special or whitespace tokens), then stopped at end-of-turn." + untrained
    )


def _watch_context(generation, *, staff: bool = False) -> dict:
    """The template context of one request's answers (`_generation.html`); `staff`: a failure's recorded
    detail is shown (others read plain words: no server path or internal URL)."""
    watch = generation_selectors.generation_watch(generation, staff=staff)
    max_new_tokens = int((generation.params or {}).get("max_new_tokens") or DEFAULT_PARAMS["max_new_tokens"])
    for column in watch.columns:
        if column.state == "done" and column.output is not None:
            column.hint = answer_hint(column.output, max_new_tokens=max_new_tokens, base_model=generation.base_model)
    return {"generation": generation, "watch": watch}


def _generation(request, project, generation):
    context = {"project": project, **_watch_context(generation, staff=model_sources.is_staff(request.user))}
    return render(request, "serving/adapters/_generation.html", context)
