"""API: adapter registry, download, merge, combine, GGUF export, and the generate endpoint."""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotune.api_errors import ERRORS, ErrorSerializer
from annotune.serializers import NoInput, StrictInput, valid_input
from training.engine import results
from training.services import model_sources, quotas

from ..selectors import adapters as selectors
from ..selectors.generations import generation_error_message
from ..services import adapters as adapter_services
from ..services import generation as generation_services
from ..services import gguf_exports as gguf_services

TAG = ["adapters"]


class SampleMessageOutput(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class SampleOutput(serializers.Serializer):
    """`training.engine.results.Sample`: a validation prompt answered by the base and by the adapter."""

    prompt = SampleMessageOutput(many=True)
    reference = serializers.CharField()
    before = serializers.CharField(help_text="The base model's greedy answer")
    after = serializers.CharField(help_text="The adapter's greedy answer")


class BehaviourAnswerOutput(serializers.Serializer):
    text = serializers.CharField(help_text="The answer as decoded (special tokens skipped, not stripped)")
    new_tokens = serializers.IntegerField()
    cut = serializers.BooleanField(help_text="max_new_tokens cut it")


class CheckedPromptOutput(serializers.Serializer):
    split = serializers.ChoiceField(choices=["validation", "control"])
    category = serializers.CharField(allow_blank=True)
    prompt = SampleMessageOutput(many=True)
    reference = serializers.CharField(allow_blank=True)
    base = BehaviourAnswerOutput()
    adapter = BehaviourAnswerOutput()
    base_failed = serializers.ListField(child=serializers.CharField(), help_text="Codes of the checks it failed")
    adapter_failed = serializers.ListField(child=serializers.CharField())


class CheckRateOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Validator code (the registry's); * for every check at once")
    label = serializers.CharField()
    n = serializers.IntegerField(help_text="Validation answers checked (each, base and adapter)")
    base_passed = serializers.IntegerField()
    adapter_passed = serializers.IntegerField()
    stated = serializers.BooleanField(help_text="A rule the project states (house style, schema, glossary, facts)")


class CategoryRateOutput(serializers.Serializer):
    category = serializers.CharField(allow_blank=True)
    split = serializers.ChoiceField(choices=["validation", "control"])
    n = serializers.IntegerField()
    base_passed = serializers.IntegerField(help_text="Answers passing every check")
    adapter_passed = serializers.IntegerField()


class DecodingOutput(serializers.Serializer):
    strategy = serializers.CharField()
    max_new_tokens = serializers.IntegerField()
    prompt_format = serializers.CharField()
    batch_size = serializers.IntegerField()


class BehaviourOutput(serializers.Serializer):
    """`training.engine.results.BehaviourReport`: the project's checks on the base model's and the adapter's
    greedy answers to the job's validation prompts and a control sample."""

    checks = CheckRateOutput(many=True)
    all_checks = CheckRateOutput()
    categories = CategoryRateOutput(many=True)
    prompts = CheckedPromptOutput(many=True)
    decoding = DecodingOutput()
    seconds = serializers.FloatField(help_text="Generation time, base and adapter")
    checks_seconds = serializers.FloatField()
    skipped = serializers.IntegerField(help_text="Prompts left out to stay within half the training time")
    validation_available = serializers.IntegerField()
    control_available = serializers.IntegerField()


def behaviour_data(adapter) -> dict | None:
    """The adapter's behavioural evaluation read through its schema, as the API gives it (None: none)."""
    report = results.behaviour_report(adapter.behaviour) if adapter is not None else None
    return BehaviourOutput(report).data if report is not None else None


class AdapterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    base_model = serializers.CharField(source="base_model.name")
    method = serializers.CharField()
    job = serializers.IntegerField(source="job_id", allow_null=True)
    size_bytes = serializers.IntegerField()
    metrics = serializers.DictField(help_text="training.engine.results.Metrics")
    samples = serializers.SerializerMethodField()
    lineage = serializers.DictField()
    is_active = serializers.BooleanField()
    archived = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()

    @extend_schema_field(SampleOutput(many=True))
    def get_samples(self, adapter) -> list[dict]:
        return SampleOutput(results.samples(adapter.samples), many=True).data


class AdapterDetailOutput(AdapterOutput):
    behaviour = serializers.SerializerMethodField()

    @extend_schema_field(BehaviourOutput(allow_null=True))
    def get_behaviour(self, adapter) -> dict | None:
        return behaviour_data(adapter)


class AdapterUpdateInput(StrictInput):
    name = serializers.CharField(required=False, max_length=200)
    archived = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class OperationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    adapter = serializers.IntegerField(source="adapter_id", allow_null=True)
    sources = serializers.ListField(child=serializers.DictField())
    params = serializers.DictField()
    result_adapter = serializers.IntegerField(source="result_adapter_id", allow_null=True)
    size_bytes = serializers.IntegerField()
    registered_base_model = serializers.IntegerField(source="registered_base_model_id", allow_null=True)
    error_code = serializers.CharField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class CombineSourceInput(StrictInput):
    adapter_id = serializers.IntegerField()
    weight = serializers.FloatField(default=1.0, min_value=-10, max_value=10)


class CombineInput(StrictInput):
    name = serializers.CharField(max_length=200)
    method = serializers.ChoiceField(choices=adapter_services.COMBINE_METHODS, default="cat")
    sources = CombineSourceInput(many=True)
    svd_rank = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1024)


class RegisterInput(StrictInput):
    name = serializers.CharField(max_length=200)


def _stream(filename: str, chunks) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def shown_to(request, adapter, row: dict) -> dict:
    """An adapter's API row as this person may see it: server paths (the base's folder in the lineage, the model
    card and the base model) are staff-only."""
    if model_sources.is_staff(request.user):
        return row
    if "lineage" in row:
        row["lineage"] = selectors.shown_lineage(adapter, staff=False)
    if "model_card" in row:
        row["model_card"] = selectors.shown_model_card(adapter, staff=False)
    if isinstance(row.get("base_model"), dict):
        row["base_model"].pop("source", None)
    return row


class AdapterListApi(APIView):
    @extend_schema(
        tags=TAG,
        parameters=[OpenApiParameter("archived", bool, description="Include archived adapters")],
        responses={200: AdapterOutput(many=True), **ERRORS},
        operation_id="adapters_list",
    )
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        include = request.query_params.get("archived") in {"1", "true"}
        adapters = list(selectors.adapter_list(project, include_archived=include))
        rows = AdapterOutput(adapters, many=True).data
        return Response([shown_to(request, adapter, row) for adapter, row in zip(adapters, rows, strict=True)])


class AdapterDetailApi(APIView):
    @extend_schema(tags=TAG, responses={200: AdapterDetailOutput, **ERRORS}, operation_id="adapters_retrieve")
    def get(self, request, project_id: int, adapter_id: int):
        adapter = selectors.adapter_get(permissions.project_for(request.user, project_id), adapter_id)
        return Response(shown_to(request, adapter, AdapterDetailOutput(adapter).data))

    @extend_schema(
        tags=TAG,
        request=AdapterUpdateInput,
        responses={200: AdapterDetailOutput, **ERRORS},
        operation_id="adapters_update",
        description="Rename, archive / unarchive, or make the project's active adapter (owners).",
    )
    def patch(self, request, project_id: int, adapter_id: int):
        adapter = selectors.adapter_get(permissions.project_for(request.user, project_id), adapter_id)
        data = valid_input(AdapterUpdateInput, request.data)
        adapter = adapter_services.adapter_update(
            adapter=adapter,
            user=request.user,
            name=data.get("name"),
            archived=data.get("archived"),
            active=data.get("is_active"),
        )
        adapter = selectors.adapter_get(adapter.project, adapter.pk)
        return Response(shown_to(request, adapter, AdapterDetailOutput(adapter).data))

    @extend_schema(tags=TAG, responses={204: None, **ERRORS}, operation_id="adapters_delete")
    def delete(self, request, project_id: int, adapter_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        adapter = selectors.adapter_get(permissions.project_for(request.user, project_id), adapter_id)
        adapter_services.adapter_delete(adapter=adapter, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdapterDownloadApi(APIView):
    @extend_schema(
        tags=TAG,
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **ERRORS},
        operation_id="adapters_download",
        description="The adapter in PEFT format (adapter_config.json, weights, README model card), zipped.",
    )
    def get(self, request, project_id: int, adapter_id: int):
        adapter = selectors.adapter_get(permissions.project_for(request.user, project_id), adapter_id)
        staff = model_sources.is_staff(request.user)
        return _stream(*adapter_services.adapter_download(adapter=adapter, staff=staff))


class AdapterMergeApi(APIView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={202: OperationOutput, **ERRORS},
        operation_id="adapters_merge",
        description="Queue a merge of the adapter into its full-precision base model (owners).",
    )
    def post(self, request, project_id: int, adapter_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        adapter = selectors.adapter_get(permissions.project_for(request.user, project_id), adapter_id)
        operation = adapter_services.merge_request(adapter=adapter, user=request.user)
        return Response(OperationOutput(operation).data, status=status.HTTP_202_ACCEPTED)


class AdapterGGUFExportApi(APIView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={202: OperationOutput, **ERRORS},
        operation_id="adapters_gguf_export",
        description=(
            "Queue a GGUF export for llama.cpp / Ollama (owners): the base model, the LoRA adapter (not for DoRA: "
            "`params.adapter_refusal` says why) and the merged model. `params` holds "
            "training.engine.local_runtimes.GGUFExport once it succeeded."
        ),
    )
    def post(self, request, project_id: int, adapter_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        adapter = selectors.adapter_get(permissions.project_for(request.user, project_id), adapter_id)
        operation = gguf_services.gguf_export_request(adapter=adapter, user=request.user)
        return Response(OperationOutput(operation).data, status=status.HTTP_202_ACCEPTED)


class AdapterCombineApi(APIView):
    @extend_schema(
        tags=TAG,
        request=CombineInput,
        responses={202: OperationOutput, **ERRORS},
        operation_id="adapters_combine",
        description="Queue a weighted combination (linear / cat / svd) of adapters of one base model (owners).",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(CombineInput, request.data)
        operation = adapter_services.combine_request(
            project=project,
            user=request.user,
            sources=[dict(s) for s in data["sources"]],
            method=data["method"],
            name=data["name"],
            svd_rank=data.get("svd_rank"),
        )
        return Response(OperationOutput(operation).data, status=status.HTTP_202_ACCEPTED)


class OperationDetailApi(APIView):
    @extend_schema(tags=TAG, responses={200: OperationOutput, **ERRORS}, operation_id="adapter_operations_retrieve")
    def get(self, request, project_id: int, operation_id: int):
        project = permissions.project_for(request.user, project_id)
        return Response(OperationOutput(selectors.operation_get(project, operation_id)).data)


class OperationDownloadApi(APIView):
    @extend_schema(
        tags=TAG,
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **ERRORS},
        operation_id="merged_models_download",
        description="A finished merge: the model folder (weights, config, tokenizer) zipped.",
    )
    def get(self, request, project_id: int, operation_id: int):
        project = permissions.project_for(request.user, project_id)
        permissions.require(permissions.can_view_project(request.user, project), "Members only.")
        operation = selectors.operation_get(project, operation_id)
        return _stream(*adapter_services.merged_download(operation=operation))


class OperationGGUFDownloadApi(APIView):
    @extend_schema(
        tags=TAG,
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **ERRORS},
        operation_id="gguf_exports_download",
        description="One file of a finished GGUF export: `base`, `adapter` (LoRA) or `merged`.",
    )
    def get(self, request, project_id: int, operation_id: int, part: str):
        operation = selectors.operation_get(permissions.project_for(request.user, project_id), operation_id)
        filename, chunks = gguf_services.gguf_download(operation=operation, part=part)
        response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class OperationRegisterApi(APIView):
    @extend_schema(
        tags=TAG,
        request=RegisterInput,
        responses={201: inline_serializer("RegisteredBaseModel", {"id": serializers.IntegerField()}), **ERRORS},
        operation_id="merged_models_register",
        description="Register a finished merge as a base model (owners).",
    )
    def post(self, request, project_id: int, operation_id: int):
        project = permissions.project_for(request.user, project_id)
        operation = selectors.operation_get(project, operation_id)
        data = valid_input(RegisterInput, request.data)
        base = adapter_services.merged_register(operation=operation, user=request.user, name=data["name"])
        return Response({"id": base.pk, "name": base.name, "source": base.source}, status=status.HTTP_201_CREATED)


# -- generate -------------------------------------------------------------------------------------
class MessageInput(StrictInput):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(trim_whitespace=False)


class GenerateInput(StrictInput):
    messages = serializers.JSONField(help_text='[{"role": "user", "content": "…"}]; ends with a user turn')
    adapter = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Adapter id; null for the base model alone; omitted: the project's active adapter (or the base).",
    )
    max_new_tokens = serializers.IntegerField(required=False)
    temperature = serializers.FloatField(required=False, help_text="0 = greedy")
    top_p = serializers.FloatField(required=False)
    seed = serializers.IntegerField(required=False)
    timeout = serializers.FloatField(required=False, min_value=0, help_text="Seconds to wait (capped by the server)")


class GenerateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    adapter = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()
    new_tokens = serializers.IntegerField()
    seconds = serializers.FloatField(help_text="Generation time on the worker")
    url = serializers.CharField(help_text="Where the request can be polled")


class GenerationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    base_model = serializers.CharField(source="base_model.name")
    messages = serializers.ListField(child=serializers.DictField())
    targets = serializers.ListField(child=serializers.DictField())
    params = serializers.DictField()
    outputs = serializers.ListField(child=serializers.DictField())
    error_code = serializers.CharField()
    error = serializers.SerializerMethodField(help_text="Why it failed (the recorded detail for staff only)")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_error(self, generation) -> str:
        if not generation.error:
            return ""
        staff = bool(self.context.get("staff"))
        return generation_error_message(generation.error_code, generation.error, staff=staff)


class GenerateApi(APIView):
    @extend_schema(
        tags=["generate"],
        request=GenerateInput,
        responses={
            200: GenerateOutput,
            202: OpenApiResponse(
                GenerateOutput, description="Queued; the server has no thread to spare for waiting now: poll `url`."
            ),
            400: ErrorSerializer,
            404: ErrorSerializer,
            429: OpenApiResponse(
                ErrorSerializer, description="Too many of your (or this project's) requests in flight; see Retry-After."
            ),
            503: OpenApiResponse(ErrorSerializer, description="The task queue is unavailable; nothing ran."),
            504: OpenApiResponse(GenerateOutput, description="No answer within the timeout; poll `url`."),
        },
        operation_id="generate",
        description=(
            "Answer a conversation with the project's base model and an adapter (default: the active one). "
            "Runs on an inference worker; the call waits for the answer up to the timeout, or answers 202 at "
            "once when the web process has no thread to spare for waiting. Beyond the caps on requests in "
            "flight (per person, per project) the answer is 429 with Retry-After and nothing is queued."
        ),
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(GenerateInput, request.data)
        if "adapter" in data:
            target = data["adapter"]
        else:
            active = generation_services.active_adapter(project)
            target = active.pk if active else None
        params = {k: data[k] for k in ("max_new_tokens", "temperature", "top_p", "seed") if k in data}
        generation = generation_services.generation_request(
            project=project, user=request.user, messages=data["messages"], targets=[target], params=params
        )
        limit = settings.ANNOTUNE_GENERATE_TIMEOUT_SECONDS
        timeout = min(float(data.get("timeout", limit)), limit)
        slot = quotas.WAITERS.try_hold()  # None: no thread to spare for waiting; answered 202 now
        try:
            generation = generation_services.generation_wait(
                generation,
                timeout if slot else 0.0,
                gone=lambda: quotas.client_gone(request.META),
            )
        finally:
            if slot:
                slot.release()
        url = reverse("api-generation", args=[project.pk, generation.pk])
        output = generation.outputs[0] if generation.outputs else {}
        body = {
            "id": generation.pk,
            "status": generation.status,
            "adapter": target,
            "text": output.get("text", ""),
            "new_tokens": output.get("new_tokens", 0),
            "seconds": output.get("seconds", 0.0),
            "url": url,
        }
        if generation.status in ("failed", "cancelled"):
            detail = generation_error_message(
                generation.error_code, generation.error, staff=model_sources.is_staff(request.user)
            )
            failed = {"detail": detail, "errors": {"generation": [generation.error_code]}}
            if generation.status == "cancelled":  # its client went away: nobody reads this
                return Response(failed, status=499)
            if generation.error_code == "broker_unavailable":  # nothing ran: the same call works once it is back
                return Response(failed, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "30"})
            if generation.error_code in ("backend_unavailable", "model_not_served"):  # vLLM down or on another model
                return Response(failed, status=status.HTTP_503_SERVICE_UNAVAILABLE)
            return Response(failed, status=502 if generation.error_code == "internal" else 400)
        if not generation.is_done:
            waited = slot is not None
            return Response(body, status=status.HTTP_504_GATEWAY_TIMEOUT if waited else status.HTTP_202_ACCEPTED)
        return Response(body)


class GenerationDetailApi(APIView):
    @extend_schema(tags=["generate"], responses={200: GenerationOutput, **ERRORS}, operation_id="generations_retrieve")
    def get(self, request, project_id: int, request_id: int):
        project = permissions.project_for(request.user, project_id)
        generation = selectors.generation_get(project, request_id)
        return Response(GenerationOutput(generation, context={"staff": model_sources.is_staff(request.user)}).data)
