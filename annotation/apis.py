"""REST API v1 for projects, members, examples and revisions: one view per operation."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from . import permissions, selectors
from .models import Example, ExampleStatus, Membership, Role
from .services import examples as example_services
from .services import projects as project_services


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField()


ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(trim_whitespace=False, allow_blank=True)


class CategorySerializer(serializers.Serializer):
    name = serializers.CharField()
    target_share = serializers.FloatField(allow_null=True, required=False)


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    guidelines = serializers.CharField()
    base_model = serializers.IntegerField(source="base_model_id", allow_null=True)
    default_system_prompt = serializers.CharField()
    categories = CategorySerializer(many=True)
    general_category = serializers.CharField()
    style_tags = serializers.ListField(child=serializers.CharField())
    glossary = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    response_schema = serializers.JSONField(allow_null=True)
    max_tokens = serializers.IntegerField()
    validation_policy = serializers.DictField()
    reviews_required = serializers.IntegerField()
    reject_reasons = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProjectInput(serializers.Serializer):
    """Only the shape is checked here; the project service owns the rules and their messages."""

    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    guidelines = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    default_system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    categories = serializers.JSONField(required=False)
    general_category = serializers.CharField(required=False, allow_blank=True)
    style_tags = serializers.JSONField(required=False)
    glossary = serializers.JSONField(required=False)
    response_schema = serializers.JSONField(required=False, allow_null=True)
    max_tokens = serializers.IntegerField(required=False)
    validation_policy = serializers.JSONField(required=False)
    reviews_required = serializers.IntegerField(required=False)
    reject_reasons = serializers.JSONField(required=False)


class ProjectListApi(APIView):
    @extend_schema(responses={200: ProjectOutput(many=True)}, operation_id="projects_list")
    def get(self, request):
        projects = selectors.project_list_for_user(request.user)
        return Response(ProjectOutput(projects, many=True).data)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput, **ERRORS}, operation_id="projects_create")
    def post(self, request):
        data = _valid(ProjectInput, request.data)
        if "name" not in data:
            return Response({"detail": "Give the project a name.", "errors": {"name": ["Required."]}}, status=400)
        project = project_services.project_create(user=request.user, **data)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectOutput, **ERRORS}, operation_id="projects_retrieve")
    def get(self, request, project_id: int):
        return Response(ProjectOutput(permissions.project_for(request.user, project_id)).data)

    @extend_schema(request=ProjectInput, responses={200: ProjectOutput, **ERRORS}, operation_id="projects_update")
    def patch(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = _valid(ProjectInput, request.data)
        project = project_services.project_update(project=project, user=request.user, **data)
        return Response(ProjectOutput(project).data)


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    created_at = serializers.DateTimeField()


class MemberInput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)


class MemberRoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberListApi(APIView):
    @extend_schema(responses={200: MemberOutput(many=True), **ERRORS}, operation_id="members_list")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        return Response(MemberOutput(selectors.project_members(project), many=True).data)

    @extend_schema(request=MemberInput, responses={201: MemberOutput, **ERRORS}, operation_id="members_add")
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = _valid(MemberInput, request.data)
        membership = project_services.member_add(project=project, actor=request.user, **data)
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    def _membership(self, request, project_id: int, user_id: int) -> Membership:
        project = permissions.project_for(request.user, project_id)
        membership = selectors.project_members(project).filter(user_id=user_id).first()
        if membership is None:
            raise Http404("No such member.")
        return membership

    @extend_schema(request=MemberRoleInput, responses={200: MemberOutput, **ERRORS}, operation_id="members_update")
    def patch(self, request, project_id: int, user_id: int):
        membership = self._membership(request, project_id, user_id)
        data = _valid(MemberRoleInput, request.data)
        membership = project_services.member_set_role(membership=membership, actor=request.user, role=data["role"])
        return Response(MemberOutput(membership).data)

    @extend_schema(responses={204: None, **ERRORS}, operation_id="members_remove")
    def delete(self, request, project_id: int, user_id: int):
        membership = self._membership(request, project_id, user_id)
        project_services.member_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


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


class ExampleCreateInput(serializers.Serializer):
    messages = serializers.JSONField()
    category = serializers.CharField(required=False, allow_blank=True, default="")
    style_tags = serializers.JSONField(required=False, default=list)
    context = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    submit = serializers.BooleanField(required=False, default=False)


class ExampleUpdateInput(serializers.Serializer):
    version = serializers.IntegerField(help_text="The version you edited; a stale one is refused with 409.")
    messages = serializers.JSONField(required=False)
    category = serializers.CharField(required=False, allow_blank=True)
    style_tags = serializers.JSONField(required=False)
    context = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class ExampleSubmitInput(serializers.Serializer):
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
    @extend_schema(
        parameters=EXAMPLE_FILTERS, responses={200: ExampleOutput(many=True), **ERRORS}, operation_id="examples_list"
    )
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        filters = selectors.ExampleFilters.from_query(request.query_params)
        paginator = ExampleCursor()
        page = paginator.paginate_queryset(selectors.example_queryset(project, filters), request, view=self)
        return paginator.get_paginated_response(ExampleOutput(page, many=True).data)

    @extend_schema(request=ExampleCreateInput, responses={201: ExampleOutput, **ERRORS}, operation_id="examples_create")
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = _valid(ExampleCreateInput, request.data)
        example = example_services.example_create(project=project, author=request.user, **data)
        return Response(ExampleOutput(example).data, status=status.HTTP_201_CREATED)


def _example(request, project_id: int, example_id: int) -> Example:
    project = permissions.project_for(request.user, project_id)
    try:
        return selectors.example_detail(project, example_id)
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None


class ExampleDetailApi(APIView):
    @extend_schema(responses={200: ExampleOutput, **ERRORS}, operation_id="examples_retrieve")
    def get(self, request, project_id: int, example_id: int):
        return Response(ExampleOutput(_example(request, project_id, example_id)).data)

    @extend_schema(request=ExampleUpdateInput, responses={200: ExampleOutput, **ERRORS}, operation_id="examples_update")
    def patch(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        data = _valid(ExampleUpdateInput, request.data)
        example = example_services.example_update(example=example, user=request.user, **data)
        return Response(ExampleOutput(example).data)

    @extend_schema(responses={204: None, **ERRORS}, operation_id="examples_delete")
    def delete(self, request, project_id: int, example_id: int):
        example_services.example_delete(example=_example(request, project_id, example_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExampleSubmitApi(APIView):
    @extend_schema(request=ExampleSubmitInput, responses={200: ExampleOutput, **ERRORS}, operation_id="examples_submit")
    def post(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        data = _valid(ExampleSubmitInput, request.data)
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
        revisions = selectors.example_revisions(example)
        return Response(RevisionOutput(revisions, many=True).data)


def _valid(serializer_class, data) -> dict:
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
