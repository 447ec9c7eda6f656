"""Examples (conversations), their submission and revisions."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotune.api_errors import ERRORS
from annotune.serializers import NoInput, StrictInput, valid_input

from .. import permissions
from ..models import Example, ExampleStatus
from ..selectors import examples as example_selectors
from ..services import examples as example_services


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(trim_whitespace=False, allow_blank=True)


class ExampleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    messages = MessageSerializer(many=True)
    category = serializers.CharField()
    style_tags = serializers.ListField(child=serializers.CharField())
    context = serializers.CharField()
    status = serializers.CharField()
    author = serializers.CharField(source="author.username")
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ExampleCreateInput(StrictInput):
    messages = serializers.JSONField()
    category = serializers.CharField(required=False, allow_blank=True, default="")
    style_tags = serializers.JSONField(required=False, default=list)
    context = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    submit = serializers.BooleanField(required=False, default=False)


class ExampleUpdateInput(StrictInput):
    version = serializers.IntegerField(help_text="The version you edited; a stale one is refused with 409.")
    messages = serializers.JSONField(required=False)
    category = serializers.CharField(required=False, allow_blank=True)
    style_tags = serializers.JSONField(required=False)
    context = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class ExampleSubmitInput(StrictInput):
    version = serializers.IntegerField(required=False)


class ExampleCursor(CursorPagination):
    ordering = "-id"
    page_size = settings.ANNOTUNE_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = 500


EXAMPLE_FILTERS = [
    OpenApiParameter("status", str, enum=ExampleStatus.values),
    OpenApiParameter("category", str),
    OpenApiParameter("author", str, description="username"),
    OpenApiParameter("q", str, description="text search in turns and context"),
    OpenApiParameter("page_size", int),
]


class ExampleListApi(APIView):
    # Declared on the view so that the schema describes the paged object ({next, previous, results}).
    pagination_class = ExampleCursor

    @extend_schema(
        parameters=EXAMPLE_FILTERS, responses={200: ExampleOutput(many=True), **ERRORS}, operation_id="examples_list"
    )
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        filters = example_selectors.ExampleFilters.from_query(request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(example_selectors.example_queryset(project, filters), request, view=self)
        return paginator.get_paginated_response(ExampleOutput(page, many=True).data)

    @extend_schema(request=ExampleCreateInput, responses={201: ExampleOutput, **ERRORS}, operation_id="examples_create")
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(ExampleCreateInput, request.data)
        example = example_services.example_create(project=project, author=request.user, **data)
        return Response(ExampleOutput(example).data, status=status.HTTP_201_CREATED)


def _example(request, project_id: int, example_id: int) -> Example:
    """The example with the project just read (with the caller's role) and its author's name: the
    editor's open, save and submit run this on every call (one plain query)."""
    project = permissions.project_for(request.user, project_id)
    try:
        return example_selectors.example_with_author(project, int(example_id))
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None


class ExampleDetailApi(APIView):
    @extend_schema(responses={200: ExampleOutput, **ERRORS}, operation_id="examples_retrieve")
    def get(self, request, project_id: int, example_id: int):
        return Response(ExampleOutput(_example(request, project_id, example_id)).data)

    @extend_schema(request=ExampleUpdateInput, responses={200: ExampleOutput, **ERRORS}, operation_id="examples_update")
    def patch(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        data = valid_input(ExampleUpdateInput, request.data)
        example = example_services.example_update(example=example, user=request.user, **data)
        return Response(ExampleOutput(example).data)

    @extend_schema(responses={204: None, **ERRORS}, operation_id="examples_delete")
    def delete(self, request, project_id: int, example_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        example_services.example_delete(example=_example(request, project_id, example_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExampleSubmitApi(APIView):
    @extend_schema(request=ExampleSubmitInput, responses={200: ExampleOutput, **ERRORS}, operation_id="examples_submit")
    def post(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        data = valid_input(ExampleSubmitInput, request.data)
        example = example_services.example_submit(example=example, user=request.user, version=data.get("version"))
        return Response(ExampleOutput(example).data)


class RevisionOutput(serializers.Serializer):
    version = serializers.IntegerField()
    author = serializers.CharField(source="author.username")
    messages = MessageSerializer(many=True)
    category = serializers.CharField()
    style_tags = serializers.ListField(child=serializers.CharField())
    context = serializers.CharField()
    changed_fields = serializers.ListField(child=serializers.CharField())
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class ExampleRevisionsApi(APIView):
    @extend_schema(responses={200: RevisionOutput(many=True), **ERRORS}, operation_id="examples_revisions")
    def get(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        revisions = example_selectors.example_revisions(example)
        return Response(RevisionOutput(revisions, many=True).data)
