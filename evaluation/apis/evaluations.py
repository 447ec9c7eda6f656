"""Blind pairwise evaluations API: create, read (results for owners, or anyone once closed), the blind
queue, judgments, close, and the preference pairs export (JSON lines in TRL's DPO format)."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotation.selectors.preferences import ORIGINS
from annotune.api_errors import ERRORS
from annotune.serializers import NoInput, StrictInput, valid_input

from ..models import Verdict
from ..selectors import evaluations as selectors
from ..selectors import preferences as preference_selectors
from ..services import evaluations as services


class EvaluationInput(StrictInput):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    base = serializers.BooleanField(required=False, default=True, help_text="Include the base model alone")
    adapters = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    dataset_version = serializers.IntegerField(
        required=False, allow_null=True, help_text="Prompts: its validation split (else its train split)"
    )
    prompts = serializers.CharField(
        required=False, allow_blank=True, help_text="Prompts pasted one per line (when no dataset version)"
    )
    max_new_tokens = serializers.IntegerField(required=False, default=128, min_value=1, max_value=1024)


class JudgmentInput(StrictInput):
    verdict = serializers.ChoiceField(choices=Verdict.choices, help_text="1 | 2 | t (tie) | b (both bad)")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class EvaluationPairOutput(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    n = serializers.IntegerField()
    wins_a = serializers.IntegerField()
    wins_b = serializers.IntegerField()
    ties = serializers.IntegerField(help_text="Ties and both-bad")
    win_rate_a = serializers.FloatField(help_text="(wins_a + ties / 2) / n")
    low = serializers.FloatField(help_text="Wilson 95 % interval")
    high = serializers.FloatField()


class EvaluationRankedOutput(serializers.Serializer):
    system = serializers.CharField()
    strength = serializers.FloatField(help_text="Bradley–Terry strength (sums to 1)")
    wins = serializers.FloatField()
    games = serializers.IntegerField()


class EvaluationCategoryOutput(serializers.Serializer):
    category = serializers.CharField()
    pairs = EvaluationPairOutput(many=True)
    ranking = EvaluationRankedOutput(many=True)


class EvaluationAgreementOutput(serializers.Serializer):
    items = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa of the first two judgments")


class EvaluationResultsOutput(serializers.Serializer):
    judgments = serializers.IntegerField()
    pairs = EvaluationPairOutput(many=True)
    ranking = EvaluationRankedOutput(many=True)
    categories = EvaluationCategoryOutput(many=True)
    agreement = EvaluationAgreementOutput()


class EvaluationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    prompt_source = serializers.CharField()
    dataset_version = serializers.IntegerField(source="dataset_version_id", allow_null=True)
    params = serializers.DictField(help_text="Decoding: greedy, max_new_tokens")
    system_count = serializers.IntegerField()
    systems = serializers.ListField(
        child=serializers.DictField(), allow_null=True, help_text="Names: owners, or anyone once closed"
    )
    error = serializers.CharField()
    results = EvaluationResultsOutput(allow_null=True)


class EvaluationQueueItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    messages = serializers.ListField(child=serializers.DictField())
    answer_1 = serializers.CharField()
    answer_2 = serializers.CharField()
    remaining = serializers.IntegerField()


def _output(evaluation, user) -> dict:
    shown = services.can_see_results(user, evaluation)
    results = None
    if shown:
        r = selectors.results(evaluation)
        results = {
            "judgments": r.judgments,
            "pairs": r.pairs,
            "ranking": r.ranking,
            "categories": [{"category": c, "pairs": p, "ranking": k} for c, p, k in r.categories],
            "agreement": r.agreement,
        }
    evaluation.system_count = len(evaluation.systems)
    data = {
        "id": evaluation.pk,
        "name": evaluation.name,
        "status": evaluation.status,
        "prompt_source": evaluation.prompt_source,
        "dataset_version_id": evaluation.dataset_version_id,
        "params": evaluation.params,
        "system_count": len(evaluation.systems),
        "systems": evaluation.systems if shown else None,
        "error": evaluation.error,
        "results": results,
    }
    return EvaluationOutput(data).data


class EvaluationListApi(APIView):
    @extend_schema(
        request=EvaluationInput,
        responses={201: EvaluationOutput, **ERRORS},
        operation_id="training_evaluations_create",
        description="Owners: queue a blind pairwise evaluation; the inference worker answers every prompt with "
        "every system (greedy decoding, max_new_tokens), then reviewers judge pairs blind.",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(EvaluationInput, request.data)
        evaluation = services.evaluation_create(
            project=project,
            user=request.user,
            name=data.get("name", ""),
            adapter_ids=data["adapters"],
            include_base=data["base"],
            dataset_version_id=data.get("dataset_version"),
            prompts_text=data.get("prompts", ""),
            max_new_tokens=data["max_new_tokens"],
        )
        evaluation.project = project
        return Response(_output(evaluation, request.user), status=status.HTTP_201_CREATED)


class EvaluationDetailApi(APIView):
    @extend_schema(responses={200: EvaluationOutput, **ERRORS}, operation_id="training_evaluations_read")
    def get(self, request, project_id: int, evaluation_id: int):
        evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
        permissions.require(
            services.can_judge(request.user, evaluation.project), "Only reviewers and owners see evaluations."
        )
        return Response(_output(evaluation, request.user))


class EvaluationNextApi(APIView):
    @extend_schema(
        responses={200: EvaluationQueueItemOutput, 204: OpenApiResponse(description="Nothing left to judge"), **ERRORS},
        operation_id="training_evaluations_next",
        description="The next item for you: a prompt and two answers in a stored random order, no system names.",
    )
    def get(self, request, project_id: int, evaluation_id: int):
        evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
        permissions.require(services.can_judge(request.user, evaluation.project), "Only reviewers and owners judge.")
        item = selectors.queue_next(evaluation, request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(EvaluationQueueItemOutput(item).data)


class JudgmentApi(APIView):
    @extend_schema(request=JudgmentInput, responses={201: None, **ERRORS}, operation_id="training_evaluations_judge")
    def post(self, request, project_id: int, evaluation_id: int, item_id: int):
        evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
        data = valid_input(JudgmentInput, request.data)
        judgment = services.judgment_submit(
            evaluation=evaluation, item_id=item_id, user=request.user, verdict=data["verdict"],
            comment=data.get("comment", ""),
        )  # fmt: skip
        return Response({"id": judgment.pk, "item": item_id, "verdict": judgment.verdict}, status=201)


class EvaluationCloseApi(APIView):
    @extend_schema(
        request=NoInput, responses={200: EvaluationOutput, **ERRORS}, operation_id="training_evaluations_close"
    )
    def post(self, request, project_id: int, evaluation_id: int):
        evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
        valid_input(NoInput, request.data)
        evaluation = services.evaluation_close(evaluation=evaluation, user=request.user)
        return Response(_output(evaluation, request.user))


class PreferencesApi(APIView):
    @extend_schema(
        responses={(200, "application/jsonl"): OpenApiResponse(description="One preference pair per line"), **ERRORS},
        operation_id="training_evaluations_preferences",
        description='Decisive judgments as TRL DPO pairs: {"prompt": [messages], "chosen": [assistant], '
        '"rejected": [assistant]}; ties and both-bad left out. Owners, or reviewers once closed.',
    )
    def get(self, request, project_id: int, evaluation_id: int):
        evaluation = selectors.evaluation_for(request.user, project_id, evaluation_id)
        permissions.require(services.can_see_results(request.user, evaluation), "Only owners export, until closed.")
        response = HttpResponse(selectors.preference_jsonl(evaluation), content_type="application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="evaluation-{evaluation.pk}-preferences.jsonl"'
        return response


class ProjectPreferencesApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("origin", str, enum=list(ORIGINS), description="One origin only")],
        responses={(200, "application/jsonl"): OpenApiResponse(description="One preference pair per line"), **ERRORS},
        operation_id="projects_preferences",
        description='Every preference of the project as TRL DPO pairs: {"prompt": [messages], "chosen": [assistant], '
        '"rejected": [assistant], "origin": "draft_correction" | "blind_evaluation"}: drafts corrected before '
        "approval, then the decisive judgments of blind evaluations. Owners only.",
    )
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        permissions.require(permissions.can_manage_project(request.user, project), "Only owners export preferences.")
        origin = preference_selectors.clean_origin(request.query_params.get("origin"))
        response = StreamingHttpResponse(
            preference_selectors.project_preference_lines(project, origin), content_type="application/jsonl"
        )
        filename = preference_selectors.project_preference_filename(project, origin)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
