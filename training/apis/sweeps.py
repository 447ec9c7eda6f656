"""Rank sweeps API: launch a sweep, read it (members, chart series, recommendation), cancel it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotune.api_errors import ERRORS
from annotune.errors import ApplicationError
from annotune.serializers import NoInput, StrictInput, valid_input

from ..engine.config import PRESETS
from ..models import AlphaRule, BaseModel, SweepAxis
from ..selectors import sweeps as selectors
from ..services import sweeps as sweep_services
from .jobs import dataset_version_for


class SweepInput(StrictInput):
    dataset_version = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of the dataset version every member trains on; default latest"
    )
    preset = serializers.ChoiceField(choices=list(PRESETS), required=False, allow_null=True)
    config = serializers.JSONField(
        required=False, allow_null=True, help_text="Fields overriding the preset (shared by every member)"
    )
    base_model = serializers.IntegerField(required=False, allow_null=True, help_text="Default: the project's")
    ranks = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=512),
        required=False,
        min_length=2,
        max_length=12,
        help_text=f"Ranks to compare; default {list(sweep_services.DEFAULT_RANKS)}",
    )
    alpha_rule = serializers.ChoiceField(
        choices=AlphaRule.choices, required=False, default=AlphaRule.DOUBLE, help_text="How each member's alpha is set"
    )
    axis = serializers.ChoiceField(
        choices=SweepAxis.choices,
        required=False,
        default=SweepAxis.RANK,
        help_text="`targets`: every rank twice, attention layers only and all linear layers",
    )
    tolerance = serializers.FloatField(
        required=False,
        default=sweep_services.DEFAULT_TOLERANCE,
        min_value=0,
        max_value=0.5,
        help_text="The recommendation: the smallest rank whose validation loss is within this share of the best",
    )


class SweepMemberOutput(serializers.Serializer):
    job = serializers.IntegerField(source="job_id")
    rank = serializers.IntegerField()
    alpha = serializers.IntegerField()
    targets = serializers.CharField()
    status = serializers.CharField()
    val_loss = serializers.FloatField(allow_null=True, help_text="val_loss_adapter")
    train_loss = serializers.FloatField(allow_null=True, help_text="final_loss (else train_loss)")
    gap = serializers.FloatField(allow_null=True, help_text="val_loss − train_loss")
    size_bytes = serializers.IntegerField(allow_null=True)
    runtime_seconds = serializers.FloatField(allow_null=True, help_text="train_runtime_seconds")
    error = serializers.CharField()


class SweepRecommendationOutput(serializers.Serializer):
    job = serializers.IntegerField(source="job_id", allow_null=True)
    rank = serializers.IntegerField(allow_null=True)
    targets = serializers.CharField()
    reason = serializers.CharField()
    notes = serializers.ListField(child=serializers.CharField())


class SweepOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    status = serializers.CharField(
        help_text="From the members: queued | running | succeeded | partial | failed | cancelled"
    )
    dataset_version = serializers.IntegerField(source="dataset_version_id")
    dataset_version_number = serializers.IntegerField(source="dataset_version.number")
    base_model = serializers.CharField(source="base_model.name")
    preset = serializers.CharField()
    base_config = serializers.DictField()
    ranks = serializers.ListField(child=serializers.IntegerField())
    alpha_rule = serializers.CharField()
    axis = serializers.CharField()
    tolerance = serializers.FloatField()
    cancel_requested = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    members = SweepMemberOutput(many=True)
    recommendation = SweepRecommendationOutput()


def _output(sweep) -> dict:
    report = selectors.sweep_report(sweep)
    sweep.status = report["status"]
    sweep.members = report["points"]
    sweep.recommendation = report["recommendation"]
    return SweepOutput(sweep).data


class SweepListApi(APIView):
    @extend_schema(
        request=SweepInput,
        responses={201: SweepOutput, **ERRORS},
        operation_id="training_sweeps_launch",
        description="Queue one training job per rank (twice per rank on the `targets` axis) on one dataset "
        "version with one seed and the same other settings. Alpha per `alpha_rule`: `double` alpha = 2 × rank, "
        "`equal` alpha = rank, `rslora` the configuration's alpha for every rank with rsLoRA scaling.",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(SweepInput, request.data)
        base_model = None
        if data.get("base_model") is not None:
            base_model = BaseModel.objects.filter(pk=data["base_model"]).first()
            if base_model is None:
                raise ApplicationError("No such base model.", {"base_model": ["Unknown id."]})
        version = None
        if data.get("dataset_version") is not None:
            version = dataset_version_for(project, data["dataset_version"])
        sweep = sweep_services.sweep_launch(
            project=project,
            user=request.user,
            dataset_version=version,
            preset=data.get("preset"),
            config=data.get("config"),
            ranks=data.get("ranks"),
            alpha_rule=data["alpha_rule"],
            axis=data["axis"],
            tolerance=data["tolerance"],
            base_model=base_model,
        )
        sweep.project = project
        return Response(_output(sweep), status=status.HTTP_201_CREATED)


class SweepDetailApi(APIView):
    @extend_schema(responses={200: SweepOutput, **ERRORS}, operation_id="training_sweeps_retrieve")
    def get(self, request, project_id: int, sweep_id: int):
        return Response(_output(selectors.sweep_for(request.user, project_id, sweep_id)))


class SweepCancelApi(APIView):
    @extend_schema(request=None, responses={200: SweepOutput, **ERRORS}, operation_id="training_sweeps_cancel")
    def post(self, request, project_id: int, sweep_id: int):
        valid_input(NoInput, request.data)
        sweep = selectors.sweep_for(request.user, project_id, sweep_id)
        sweep = sweep_services.sweep_cancel(sweep=sweep, user=request.user)
        return Response(_output(sweep))
