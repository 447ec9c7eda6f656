"""Blind pairwise evaluation pages: list + new (owners), detail with results, the blind judging queue,
close, the preference pairs download, and the project's whole preference export (with corrected drafts)."""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import permissions
from annotune.errors import ApplicationError
from curated_data.models import DatasetVersion
from serving.models import Adapter
from serving.selectors import adapters as adapter_selectors

from ..models import Judgment, Verdict
from ..selectors import evaluations as selectors
from ..selectors import preferences as preference_selectors
from ..services import evaluations as services


class EvaluationForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    base = forms.BooleanField(required=False, initial=True, label="Base model")
    adapters = forms.ModelMultipleChoiceField(
        queryset=Adapter.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    dataset_version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.none(),
        required=False,
        empty_label="— paste prompts below —",
        help_text="Its validation split (its train split if the validation split is empty)",
    )
    prompts = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False, help_text="One per line")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=1024, initial=128)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["adapters"].queryset = Adapter.objects.filter(project=project, archived=False)
        self.fields["dataset_version"].queryset = DatasetVersion.objects.filter(project=project)
        self.fields["dataset_version"].label_from_instance = lambda v: f"v{v.number} ({v.example_count} examples)"


@login_required
def evaluation_list(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    permissions.require(services.can_judge(request.user, project), "Only reviewers and owners see evaluations.")
    can_manage = services.can_manage(request.user, project)
    initial = _prefill(request, project) if can_manage and request.method == "GET" else None
    form = EvaluationForm(request.POST or None, project=project, initial=initial) if can_manage else None
    if request.method == "POST":
        permissions.require(can_manage, "Only owners create evaluations.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                evaluation = services.evaluation_create(
                    project=project,
                    user=request.user,
                    name=data["name"],
                    adapter_ids=[a.pk for a in data["adapters"]],
                    include_base=data["base"],
                    dataset_version_id=data["dataset_version"].pk if data["dataset_version"] else None,
                    prompts_text=data["prompts"],
                    max_new_tokens=data["max_new_tokens"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("evaluation-detail", project_id=project.pk, evaluation_id=evaluation.pk)
    context = {
        "project": project,
        "evaluations": selectors.evaluation_list(project),
        "form": form,
        "prefilled": initial is not None,
        "can_manage": can_manage,
    }
    return render(request, "evaluation/evaluations/list.html", context)


def _prefill(request, project) -> dict | None:
    """`?from_adapter=<id>` (the adapter page's "Compare blind on these prompts"): the form filled with that
    adapter's behavioural evaluation prompts, the base model and the adapter."""
    raw = request.GET.get("from_adapter", "")
    if not raw:
        return None
    adapter = (
        adapter_selectors.adapters_by_id(project, [int(raw)]).get(int(raw))
        if raw.isascii() and raw.isdigit() and len(raw) <= 18
        else None
    )
    initial = adapter_selectors.behaviour_prefill(adapter) if adapter is not None else None
    if initial is None:
        flash.error(request, "That adapter has no behavioural evaluation prompts to compare on: paste prompts below.")
    return initial


@login_required
def evaluation_detail(request, project_id: int, evaluation_id: int):
    evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
    permissions.require(services.can_judge(request.user, evaluation.project), "Only reviewers and owners.")
    shown = services.can_see_results(request.user, evaluation)
    context = {
        "project": evaluation.project,
        "evaluation": evaluation,
        "results": selectors.results(evaluation) if shown else None,
        "can_manage": services.can_manage(request.user, evaluation.project),
        "judged": selectors.judged_by(evaluation, request.user),
        "promotable": selectors.promotable(evaluation, request.user),
        "polling": evaluation.is_active,
    }
    return render(request, "evaluation/evaluations/detail.html", context)


@login_required
def evaluation_judge(request, project_id: int, evaluation_id: int):
    """The blind queue: GET shows the next item (no system names), POST records a verdict."""
    evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
    permissions.require(services.can_judge(request.user, evaluation.project), "Only reviewers and owners judge.")
    if request.method == "POST":
        try:
            services.judgment_submit(
                evaluation=evaluation,
                item_id=int(request.POST.get("item") or 0),
                user=request.user,
                verdict=request.POST.get("verdict", ""),
                comment=request.POST.get("comment", ""),
            )
        except (ApplicationError, ValueError) as exc:
            flash.error(request, getattr(exc, "message", "Invalid item."))
        return redirect("evaluation-judge", project_id=evaluation.project.pk, evaluation_id=evaluation.pk)
    context = {
        "project": evaluation.project,
        "evaluation": evaluation,
        "item": selectors.queue_next(evaluation, request.user),
        "verdicts": Verdict.choices,
    }
    return render(request, "evaluation/evaluations/judge.html", context)


@login_required
@require_POST
def evaluation_close(request, project_id: int, evaluation_id: int):
    evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
    try:
        services.evaluation_close(evaluation=evaluation, user=request.user)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, "Evaluation closed: the systems' names are now shown to reviewers.")
    return redirect("evaluation-detail", project_id=evaluation.project.pk, evaluation_id=evaluation.pk)


@login_required
def evaluation_preferences(request, project_id: int, evaluation_id: int):
    evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
    permissions.require(services.can_see_results(request.user, evaluation), "Only owners export, until closed.")
    response = HttpResponse(selectors.preference_jsonl(evaluation), content_type="application/jsonl")
    response["Content-Disposition"] = f'attachment; filename="evaluation-{evaluation.pk}-preferences.jsonl"'
    return response


@login_required
def project_preferences(request, project_id: int):
    """Owners: every preference of the project as DPO data (JSON lines), `?origin=` to keep one origin."""
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_manage_project(request.user, project), "Only owners export preferences.")
    origin = preference_selectors.clean_origin(request.GET.get("origin"))
    response = StreamingHttpResponse(
        preference_selectors.project_preference_lines(project, origin), content_type="application/jsonl"
    )
    filename = preference_selectors.project_preference_filename(project, origin)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def judgment_promote(request, project_id: int, evaluation_id: int, judgment_id: int):
    """The better answer of one of the user's judgments, edited if need be, becomes a new example."""
    evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
    judgment = get_object_or_404(Judgment, pk=judgment_id, item__evaluation=evaluation, reviewer=request.user)
    try:
        example = services.judgment_promote(judgment=judgment, user=request.user, answer=request.POST.get("answer"))
    except ApplicationError as exc:
        flash.error(request, f"Not promoted: {exc.message}")
    else:
        flash.success(request, f"Example #{example.pk} created from the better answer; it waits for review.")
    return redirect("evaluation-detail", project_id=project_id, evaluation_id=evaluation_id)
