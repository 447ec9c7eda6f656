"""Training jobs API: launch, list, progress, cancel, metric history, adapter metadata, config schema."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotune.api_errors import ERRORS
from annotune.errors import ApplicationError
from annotune.serializers import NoInput, StrictInput, valid_input
from serving.apis.adapters import BehaviourOutput, behaviour_data, shown_to
from serving.models import Adapter

from ..engine.config import PRESETS, config_schema
from ..models import BaseModel, JobStatus
from ..selectors import jobs as selectors
from ..services import jobs as job_services
from ..services.estimates import estimates_request, total_bytes
from ..services.launch_plan import job_spec
from .base_models import BaseModelOutput


class JobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    base_model = BaseModelOutput()
    method = serializers.CharField()
    preset = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    cancel_requested = serializers.BooleanField()
    step = serializers.IntegerField()
    max_steps = serializers.IntegerField()
    percent = serializers.IntegerField()
    epoch = serializers.FloatField()
    loss = serializers.FloatField(allow_null=True)
    eval_loss = serializers.FloatField(allow_null=True)
    learning_rate = serializers.FloatField(allow_null=True)
    grad_norm = serializers.FloatField(allow_null=True)
    tokens_per_second = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    resumed_from_step = serializers.IntegerField(allow_null=True)
    device_type = serializers.CharField(help_text="The device class it runs on (cpu / cuda)")
    devices = serializers.IntegerField(help_text="Processes, one per device")
    memory_mb = serializers.IntegerField(help_text="Estimated memory per process, MiB")
    queue = serializers.CharField(help_text="The queue it waits in for a worker of its device class")
    worker = serializers.CharField(help_text="The worker that runs (or ran) it")
    dataset_version = serializers.IntegerField(source="dataset_version_id", allow_null=True)
    dataset_version_number = serializers.IntegerField(source="dataset_version.number", allow_null=True, default=None)
    dataset_sha256 = serializers.CharField()
    train_examples = serializers.IntegerField()
    validation_examples = serializers.IntegerField()
    error_code = serializers.CharField()
    sweep = serializers.IntegerField(source="sweep_id", allow_null=True, help_text="Rank sweep the job is in")
    parent_adapter = serializers.IntegerField(
        source="parent_adapter_id", allow_null=True, help_text="Continue training: the adapter it starts from"
    )
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class JobDetailOutput(JobOutput):
    config = serializers.DictField()
    estimate = serializers.DictField()
    error = serializers.CharField()
    log_tail = serializers.CharField()
    result = serializers.DictField()
    adapter = serializers.SerializerMethodField()
    behaviour = serializers.SerializerMethodField(help_text="The behavioural evaluation (stored on its adapter)")

    def get_adapter(self, job) -> int | None:
        adapter = getattr(job, "adapter", None)
        return adapter.pk if adapter is not None else None

    @extend_schema_field(BehaviourOutput(allow_null=True))
    def get_behaviour(self, job) -> dict | None:
        return behaviour_data(getattr(job, "adapter", None))


class LaunchInput(StrictInput):
    preset = serializers.ChoiceField(choices=list(PRESETS), required=False, allow_null=True)
    config = serializers.JSONField(required=False, allow_null=True, help_text="Fields overriding the preset")
    base_model = serializers.IntegerField(required=False, allow_null=True, help_text="Default: the project's")
    dataset_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Id of the dataset version to train on (`GET /api/v1/projects/{project_id}/versions/` lists "
        "them with their train / validation counts); the job's dataset_sha256 is the version's sha256. "
        "Omitted or null: the project's latest version; a project without any version gets its first one made "
        "from its approved examples by the launch (refused, naming dataset_version, when the project is too "
        "large for that: create the version with `POST /api/v1/projects/{project_id}/versions/` first).",
    )
    parent_adapter = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Continue training: id of an adapter of this project (trained by a job) whose weights the job "
        "starts from. The job keeps that adapter's base model, method, rank, alpha and target modules (an "
        "override that changes them is refused) and trains on the chosen dataset version (the adapter's or a "
        "newer one).",
    )


class MetricOutput(serializers.Serializer):
    step = serializers.IntegerField()
    epoch = serializers.FloatField()
    loss = serializers.FloatField(allow_null=True)
    eval_loss = serializers.FloatField(allow_null=True)
    learning_rate = serializers.FloatField(allow_null=True)
    grad_norm = serializers.FloatField(allow_null=True)
    tokens_per_second = serializers.FloatField(allow_null=True)


class JobAdapterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    job = serializers.IntegerField(source="job_id", allow_null=True)
    base_model = BaseModelOutput()
    name = serializers.CharField()
    method = serializers.CharField()
    storage_path = serializers.CharField()
    size_bytes = serializers.IntegerField()
    metrics = serializers.DictField()
    samples = serializers.ListField(child=serializers.DictField())
    lineage = serializers.DictField()
    model_card = serializers.CharField()
    archived = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    behaviour = serializers.SerializerMethodField()

    @extend_schema_field(BehaviourOutput(allow_null=True))
    def get_behaviour(self, adapter) -> dict | None:
        return behaviour_data(adapter)


class SchemaOutput(serializers.Serializer):
    schema = serializers.DictField()
    presets = serializers.DictField()


class EstimatingOutput(serializers.Serializer):
    status = serializers.CharField(help_text="`estimating`: a worker computes the estimate; ask again")
    message = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds to wait before asking again")


ESTIMATE_RETRY_SECONDS = 2


class EstimateOutput(serializers.Serializer):
    class WorkerOutput(serializers.Serializer):
        name = serializers.CharField()
        live = serializers.BooleanField()
        fits = serializers.BooleanField()
        reason = serializers.CharField(allow_null=True)

    method = serializers.CharField(help_text="The method the job would train with")
    method_reason = serializers.CharField(
        allow_blank=True, help_text="Why, when the platform chose it for the device (empty when it was named)"
    )
    estimate = serializers.DictField()
    total_bytes = serializers.IntegerField(allow_null=True)
    device_memory_bytes = serializers.IntegerField()
    fits = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)
    device_type = serializers.CharField(help_text="The device class the job would run on")
    queue = serializers.CharField(help_text="Where it would wait; empty when no worker could take it")
    waiting = serializers.IntegerField(help_text="Jobs waiting in that queue now")
    workers = WorkerOutput(many=True, help_text="Every advertised training worker and whether it could take the job")


def _launch_arguments(request, project, data: dict) -> dict:
    """Resolve ids to rows (within what the user may use)."""
    arguments = {"preset": data.get("preset"), "config": data.get("config")}
    if data.get("parent_adapter") is not None:
        parent = Adapter.objects.filter(project=project, pk=data["parent_adapter"]).select_related("base_model").first()
        if parent is None:
            raise ApplicationError("No such adapter in this project.", {"parent_adapter": ["Unknown id."]})
        arguments["parent_adapter"] = parent
    if data.get("base_model") is not None:
        base_model = BaseModel.objects.filter(pk=data["base_model"]).first()
        if base_model is None:
            raise ApplicationError("No such base model.", {"base_model": ["Unknown id."]})
        arguments["base_model"] = base_model
    if data.get("dataset_version") is not None:
        arguments["dataset_version"] = dataset_version_for(project, data["dataset_version"])
    else:
        arguments["dataset_version"] = job_services.latest_version(project)
    return arguments


def dataset_version_for(project, version_id: int):
    try:
        from curated_data.models import DatasetVersion  # the dataset versions app, when installed
    except ImportError:
        raise ApplicationError("Dataset versions are not available.", {"dataset_version": ["?"]}) from None
    version = DatasetVersion.objects.filter(project=project, pk=version_id).first()
    if version is None:
        raise ApplicationError("No such dataset version in this project.", {"dataset_version": ["Unknown id."]})
    return version


class JobListApi(APIView):
    @extend_schema(responses={200: JobOutput(many=True), **ERRORS}, operation_id="training_jobs_list")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        return Response(JobOutput(selectors.job_list(project)[:100], many=True).data)

    @extend_schema(
        request=LaunchInput,
        responses={201: JobDetailOutput, **ERRORS},
        operation_id="training_jobs_launch",
        description="Validate the configuration (preset + overrides), check the memory estimate against the "
        "training device and queue the job on the `training` queue. The job reads a dataset version: "
        "`dataset_version` (an id), by default the project's latest version.",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(LaunchInput, request.data)
        job = job_services.job_launch(project=project, user=request.user, **_launch_arguments(request, project, data))
        return Response(JobDetailOutput(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobDetailOutput, **ERRORS}, operation_id="training_jobs_retrieve")
    def get(self, request, project_id: int, job_id: int):
        return Response(JobDetailOutput(selectors.job_for(request.user, project_id, job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={200: JobDetailOutput, **ERRORS}, operation_id="training_jobs_cancel")
    def post(self, request, project_id: int, job_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        job = selectors.job_for(request.user, project_id, job_id)
        job = job_services.job_cancel(job=job, user=request.user)
        return Response(JobDetailOutput(job).data)


class JobMetricsApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only steps after this one (incremental polling)")],
        responses={200: MetricOutput(many=True), **ERRORS},
        operation_id="training_jobs_metrics",
    )
    def get(self, request, project_id: int, job_id: int):
        job = selectors.job_for(request.user, project_id, job_id)
        after = request.query_params.get("after")
        after_step = int(after) if after and after.isdigit() else None
        return Response(MetricOutput(selectors.job_metrics(job, after_step=after_step), many=True).data)


class JobAdapterApi(APIView):
    @extend_schema(responses={200: JobAdapterOutput, **ERRORS}, operation_id="training_jobs_adapter")
    def get(self, request, project_id: int, job_id: int):
        job = selectors.job_for(request.user, project_id, job_id)
        adapter = selectors.job_adapter(job)
        return Response(shown_to(request, adapter, JobAdapterOutput(adapter).data))


class EstimateApi(APIView):
    @extend_schema(
        request=LaunchInput,
        responses={200: EstimateOutput, 202: EstimatingOutput, **ERRORS},
        operation_id="training_estimate",
        description="The launch plan of these settings: method, memory estimate and placement. An estimate "
        "not computed yet for this base model and these settings is computed by a worker (seconds): the "
        "answer is then 202 with Retry-After; ask again with the same body.",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        permissions.require(permissions.can_train(request.user, project), "Only project owners can train adapters.")
        data = valid_input(LaunchInput, request.data)
        arguments = _launch_arguments(request, project, data)
        spec = job_spec(
            project=project,
            preset=arguments["preset"],
            config=arguments["config"],
            base_model=arguments.get("base_model"),
            parent_adapter=arguments.get("parent_adapter"),
        )
        if spec.estimate is None or spec.placement is None:
            estimates_request(base_model=spec.base_model, configs=spec.missing)
            body = {
                "status": "estimating",
                "message": "A worker is estimating the memory this job needs; ask again in a few seconds.",
                "retry_after": ESTIMATE_RETRY_SECONDS,
            }
            headers = {"Retry-After": str(ESTIMATE_RETRY_SECONDS)}
            return Response(EstimatingOutput(body).data, status=status.HTTP_202_ACCEPTED, headers=headers)
        plan = spec.plan
        estimate, placement = plan.estimate, plan.placement
        body = {
            "method": plan.config["method"],
            "method_reason": plan.method_reason,
            "estimate": estimate,
            "total_bytes": total_bytes(estimate),
            "device_memory_bytes": settings.TRAINING_DEVICE_MEMORY_MB * 1024 * 1024,
            "fits": placement.refusal is None,
            "message": placement.refusal,
            "device_type": placement.needs.device_type,
            "queue": placement.queue,
            "waiting": placement.waiting,
            "workers": [
                {"name": c.row.worker.name, "live": c.row.live, "fits": c.fits, "reason": c.reason}
                for c in placement.candidates
            ],
        }
        return Response(EstimateOutput(body).data)


class ConfigSchemaApi(APIView):
    @extend_schema(responses={200: SchemaOutput}, operation_id="training_config_schema")
    def get(self, request):
        return Response({"schema": config_schema(), "presets": PRESETS})
