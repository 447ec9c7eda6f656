"""REST API v1 for imports, exports and dataset versions: one view per operation."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions as annotation_permissions
from annotation.apis.examples import EXAMPLE_FILTERS
from annotation.models import ExampleStatus
from annotation.selectors.examples import ExampleFilters
from annotune.api_errors import ERRORS, ErrorSerializer
from annotune.errors import ApplicationError
from annotune.serializers import StrictInput, valid_input
from annotune.uploads import check_size, upload_view

from . import permissions, selectors
from .formats.records import IMPORT_FORMATS
from .formats.rendering import EXPORT_FORMATS
from .models import VersionBuild
from .services import exports, imports, versions


class FileRenderer(BaseRenderer):
    """Lets a client ask for any media type on download endpoints; error bodies stay JSON."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if isinstance(data, dict | list) else data


DOWNLOAD_RENDERERS = [JSONRenderer, FileRenderer]


class RowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    field = serializers.CharField()
    reason = serializers.CharField()


class KeptAsDraftSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    codes = serializers.ListField(child=serializers.CharField(), help_text="Codes of its error findings.")


class ImportReportSerializer(serializers.Serializer):
    errors = RowErrorSerializer(many=True)
    error_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    notes = serializers.ListField(child=serializers.CharField())
    kept_as_draft = serializers.IntegerField(
        help_text="Rows imported as drafts instead of submitted: they have validation errors, which block a submit."
    )
    kept_as_draft_rows = KeptAsDraftSerializer(many=True, help_text="The first of them.")


class ImportJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    created_by = serializers.CharField(source="created_by.username")
    original_name = serializers.CharField()
    size_bytes = serializers.IntegerField()
    file_format = serializers.CharField()
    detected_format = serializers.CharField()
    options = serializers.DictField()
    status = serializers.CharField()
    phase = serializers.CharField()
    progress_percent = serializers.IntegerField()
    rows_read = serializers.IntegerField()
    rows_valid = serializers.IntegerField()
    rows_invalid = serializers.IntegerField()
    rows_imported = serializers.IntegerField()
    report = serializers.SerializerMethodField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(ImportReportSerializer)
    def get_report(self, job) -> dict:
        empty = {
            "errors": [],
            "error_count": 0,
            "truncated": False,
            "notes": [],
            "kept_as_draft": 0,
            "kept_as_draft_rows": [],
        }
        return {**empty, **(job.report or {})}


class ImportCreateInput(StrictInput):
    file = serializers.FileField(help_text="JSONL, JSON array or CSV, UTF-8.")
    file_format = serializers.ChoiceField(choices=IMPORT_FORMATS, default="auto")
    skip_bad_rows = serializers.BooleanField(
        default=False, help_text="Import the good rows and report the bad ones (default: all or nothing)."
    )
    keep_duplicates = serializers.BooleanField(
        default=False,
        help_text="Also import rows that repeat an earlier row or an existing example (default: skip and report them).",
    )
    status = serializers.ChoiceField(
        choices=[ExampleStatus.DRAFT, ExampleStatus.SUBMITTED],
        default=ExampleStatus.DRAFT,
        help_text="Rows with validation errors (severity error) are imported as drafts; the report lists them.",
    )
    mapping = serializers.CharField(
        required=False,
        help_text='CSV only: JSON object naming the columns, e.g. {"prompt": "question", "response": "answer", '
        '"system": "", "category": "topic", "tags": "", "context": ""}. Guessed from the header if left out.',
    )

    def validate_mapping(self, value: str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError as exc:
            raise serializers.ValidationError(f"Not valid JSON: {exc.msg}.") from None


class ImportMappingInput(StrictInput):
    mapping = serializers.DictField(child=serializers.CharField(allow_blank=True))


class ImportRetryInput(StrictInput):
    skip_bad_rows = serializers.BooleanField(required=False, allow_null=True, default=None)


def _project(request, project_id: int):
    return annotation_permissions.project_for(request.user, project_id)


@upload_view(lambda: settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES)
class ImportListApi(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(responses={200: ImportJobOutput(many=True), **ERRORS}, operation_id="imports_list")
    def get(self, request, project_id: int):
        project = _project(request, project_id)
        return Response(ImportJobOutput(selectors.import_jobs(project)[:100], many=True).data)

    @extend_schema(
        request={"multipart/form-data": ImportCreateInput},
        responses={202: ImportJobOutput, **ERRORS},
        operation_id="imports_create",
        description="Upload a file; a worker imports it. Poll the job for progress and its report.",
    )
    def post(self, request, project_id: int):
        project = _project(request, project_id)
        # Permission, then size, before the body is read.
        if not permissions.can_import(request.user, project):
            raise PermissionDenied("Only project owners can import examples.")
        check_size(request)
        serializer = ImportCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = imports.import_create(
            project=project,
            user=request.user,
            upload=data["file"],
            file_format=data["file_format"],
            skip_bad_rows=data["skip_bad_rows"],
            keep_duplicates=data["keep_duplicates"],
            initial_status=data["status"],
            mapping=data.get("mapping"),
        )
        return Response(ImportJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    @extend_schema(responses={200: ImportJobOutput, **ERRORS}, operation_id="imports_retrieve")
    def get(self, request, project_id: int, job_id: int):
        job = selectors.import_job(_project(request, project_id), job_id)
        return Response(ImportJobOutput(job).data)


class ImportMappingApi(APIView):
    @extend_schema(request=ImportMappingInput, responses={200: ImportJobOutput, **ERRORS}, operation_id="imports_map")
    def post(self, request, project_id: int, job_id: int):
        job = selectors.import_job(_project(request, project_id), job_id)
        data = valid_input(ImportMappingInput, request.data)
        job = imports.import_set_mapping(job=job, user=request.user, mapping=data["mapping"])
        return Response(ImportJobOutput(job).data)


class ImportRetryApi(APIView):
    @extend_schema(request=ImportRetryInput, responses={202: ImportJobOutput, **ERRORS}, operation_id="imports_retry")
    def post(self, request, project_id: int, job_id: int):
        job = selectors.import_job(_project(request, project_id), job_id)
        data = valid_input(ImportRetryInput, request.data or {})
        job = imports.import_retry(job=job, user=request.user, skip_bad_rows=data.get("skip_bad_rows"))
        return Response(ImportJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


def export_response(project, user, params) -> StreamingHttpResponse:
    filters = ExampleFilters.from_query(params)
    file_format = exports.clean_format(params.get("file_format") or "messages")
    chunks = exports.export_chunks(project=project, user=user, filters=filters, file_format=file_format)
    response = StreamingHttpResponse(
        (chunk.encode() for chunk in chunks), content_type=EXPORT_FORMATS[file_format][1] + "; charset=utf-8"
    )
    name = exports.export_filename(project, file_format, filters)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# One documented media type per export format (the JSON one holds an array of records).
EXPORT_RESPONSES = {
    (200, media): OpenApiResponse(OpenApiTypes.ANY if media == "application/json" else OpenApiTypes.BINARY)
    for media in sorted({spec[1] for spec in EXPORT_FORMATS.values()})
}


class ExportApi(APIView):
    renderer_classes = DOWNLOAD_RENDERERS

    @extend_schema(
        parameters=[
            OpenApiParameter("file_format", str, enum=list(EXPORT_FORMATS), default="messages"),
            *[p for p in EXAMPLE_FILTERS if p.name != "page_size"],
        ],
        responses={**EXPORT_RESPONSES, **ERRORS},
        operation_id="examples_export",
        description="Stream the filtered examples as a file (oldest first). The messages format is a JSONL that "
        'Hugging Face `datasets.load_dataset("json")` reads as is. In CSV, a cell that starts with = + - @, a tab '
        "or a carriage return gets a leading ' (spreadsheet formula injection, OWASP); the CSV import removes it. "
        "The other formats keep the text exactly.",
    )
    def get(self, request, project_id: int):
        return export_response(_project(request, project_id), request.user, request.query_params)


class CategoryCountSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    train = serializers.IntegerField()
    validation = serializers.IntegerField()


class VersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    number = serializers.IntegerField()
    sha256 = serializers.CharField()
    example_count = serializers.IntegerField()
    train_count = serializers.IntegerField()
    validation_count = serializers.IntegerField()
    category_counts = serializers.DictField(child=CategoryCountSerializer())
    split_seed = serializers.IntegerField()
    validation_fraction = serializers.FloatField()
    train_sha256 = serializers.CharField()
    validation_sha256 = serializers.CharField()
    guideline_sha256 = serializers.CharField()
    validation_report = serializers.DictField()
    override_reason = serializers.CharField()
    notes = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()


class VersionCreateInput(StrictInput):
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=versions.MAX_TEXT_CHARS)
    seed = serializers.IntegerField(required=False, min_value=0, help_text="Split seed (default from settings).")
    validation_fraction = serializers.FloatField(required=False, min_value=0, max_value=0.99)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=versions.MAX_TEXT_CHARS,
        help_text="Owners: why to create the version although the dataset checks found errors.",
    )


class VersionBuildOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    status = serializers.CharField()
    phase = serializers.CharField()
    example_count = serializers.IntegerField()
    attempts = serializers.IntegerField()
    version = serializers.SerializerMethodField()
    error = serializers.CharField()
    report = serializers.JSONField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_version(self, build) -> int | None:
        return build.version.number if build.version_id else None

    def get_url(self, build) -> str:
        path = reverse("api-version-build", args=[build.project_id, build.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class VersionListQuery(StrictInput):
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)


class VersionPages(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_page_message = "No page {page_number} of versions: the list has fewer pages. Start at page 1."

    @property
    def page_size(self) -> int:  # read per request, as the versions page does, not once at import
        return settings.ANNOTUNE_PAGE_SIZE


class VersionListApi(APIView):
    # Declared on the view so that the schema describes the paged object ({count, next, previous, results}).
    pagination_class = VersionPages

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses={200: VersionOutput(many=True), **ERRORS},
        operation_id="versions_list",
        description="The project's versions, newest first, a page at a time; a page past the last is a 404.",
    )
    def get(self, request, project_id: int):
        project = _project(request, project_id)
        valid_input(VersionListQuery, request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.versions(project), request, view=self)
        return paginator.get_paginated_response(VersionOutput(page, many=True).data)

    @extend_schema(
        request=VersionCreateInput,
        responses={201: VersionOutput, 202: VersionBuildOutput, **ERRORS},
        operation_id="versions_create",
        description=(
            "Create the next version. With at most ANNOTUNE_VERSION_INLINE_MAX approved examples it is made at once "
            "(201, the version); with more a worker builds it (202, the build: poll its `url` until `status` is "
            "`succeeded` and `version` is set, or `failed` with `error` and the checks' `report`)."
        ),
    )
    def post(self, request, project_id: int):
        project = _project(request, project_id)
        data = valid_input(VersionCreateInput, request.data)
        made = versions.version_request(
            project=project,
            user=request.user,
            notes=data["notes"],
            seed=data.get("seed"),
            validation_fraction=data.get("validation_fraction"),
            override_reason=data["override_reason"],
        )
        if isinstance(made, VersionBuild):
            body = VersionBuildOutput(made, context={"request": request}).data
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
        return Response(VersionOutput(made).data, status=status.HTTP_201_CREATED)


class VersionBuildDetailApi(APIView):
    @extend_schema(responses={200: VersionBuildOutput, **ERRORS}, operation_id="version_builds_retrieve")
    def get(self, request, project_id: int, build_id: int):
        build = selectors.build_get(_project(request, project_id), build_id)
        return Response(VersionBuildOutput(build, context={"request": request}).data)


class VersionDetailApi(APIView):
    @extend_schema(responses={200: VersionOutput, **ERRORS}, operation_id="versions_retrieve")
    def get(self, request, project_id: int, number: int):
        return Response(VersionOutput(selectors.version_get(_project(request, project_id), number)).data)


# A version's file the artifact storage cannot give (gone, or the storage unreachable).
UNREADABLE = {
    503: OpenApiResponse(ErrorSerializer, description="A file of the version cannot be read from the artifact storage.")
}


def version_file_response(version, part: str) -> FileResponse:
    stream = selectors.version_open(version, part)
    name = f"project-{version.project_id}-v{version.number}-{part}.jsonl"
    response = FileResponse(stream, as_attachment=True, filename=name, content_type="application/jsonl")
    if not response.has_header("Content-Length"):  # a stream from object storage does not know its length
        response["Content-Length"] = selectors.version_size(version, part)
    return response


class VersionDownloadApi(APIView):
    renderer_classes = DOWNLOAD_RENDERERS

    @extend_schema(
        parameters=[OpenApiParameter("part", str, enum=list(selectors.VERSION_PARTS), default="all")],
        responses={(200, "application/jsonl"): OpenApiResponse(OpenApiTypes.BINARY), **ERRORS, **UNREADABLE},
        operation_id="versions_download",
        description="The version's immutable files: all examples, the train or validation split, or the "
        "manifest (example id, content hash, record hash and split of each line of all).",
    )
    def get(self, request, project_id: int, number: int):
        project = _project(request, project_id)
        if not permissions.can_read_versions(request.user, project):
            raise ApplicationError("You cannot read this project's versions.")
        version = selectors.version_get(project, number)
        return version_file_response(version, request.query_params.get("part") or "all")


class VersionDiffOutput(serializers.Serializer):
    base = serializers.IntegerField()
    target = serializers.IntegerField()
    added = serializers.ListField(child=serializers.IntegerField(), help_text="example ids")
    removed = serializers.ListField(child=serializers.IntegerField())
    changed = serializers.ListField(child=serializers.IntegerField())
    unchanged = serializers.IntegerField()


class VersionDiffApi(APIView):
    @extend_schema(responses={200: VersionDiffOutput, **ERRORS, **UNREADABLE}, operation_id="versions_diff")
    def get(self, request, project_id: int, number: int, other: int):
        project = _project(request, project_id)
        diff = selectors.version_diff(selectors.version_get(project, number), selectors.version_get(project, other))
        return Response(diff.as_dict())
