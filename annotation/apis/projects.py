"""Projects and members."""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotune.api_errors import ERRORS
from annotune.errors import ApplicationError
from annotune.serializers import NoInput, StrictInput, valid_input
from training.models import BaseModel

from .. import permissions
from ..models import Membership, Role
from ..selectors import projects as project_selectors
from ..services import projects as project_services


class CategorySerializer(serializers.Serializer):
    name = serializers.CharField()
    target_share = serializers.FloatField(allow_null=True, required=False)


class StyleRulesSerializer(serializers.Serializer):
    """The house style every assistant answer keeps; a rule left out is not checked."""

    opening = serializers.CharField(required=False, help_text="Text every assistant answer must start with.")
    signoff = serializers.CharField(
        required=False, help_text="Text every assistant answer must end with (trailing whitespace ignored)."
    )
    max_words = serializers.IntegerField(required=False, help_text="Most words an assistant answer may have.")


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
    style_rules = StyleRulesSerializer()
    reviews_required = serializers.IntegerField()
    reject_reasons = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProjectInput(StrictInput):
    """Only the shape is checked here; the project service owns the rules and their messages."""

    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    base_model = serializers.PrimaryKeyRelatedField(
        queryset=BaseModel.objects.all(),
        required=False,
        allow_null=True,
        help_text="Id of a base model (GET /api/v1/base-models/ lists them); null for none.",
        error_messages={
            "does_not_exist": "No base model with id {pk_value}; GET /api/v1/base-models/ lists the ids.",
            "incorrect_type": "A base model id (a number), not {data_type}.",
        },
    )
    guidelines = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    default_system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    categories = serializers.JSONField(required=False)
    general_category = serializers.CharField(required=False, allow_blank=True)
    style_tags = serializers.JSONField(required=False)
    glossary = serializers.JSONField(required=False)
    response_schema = serializers.JSONField(required=False, allow_null=True)
    max_tokens = serializers.IntegerField(required=False)
    validation_policy = serializers.JSONField(required=False)
    style_rules = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='House style: {"opening": "...", "signoff": "...", "max_words": 45}; each optional, {} for none.',
    )
    reviews_required = serializers.IntegerField(required=False)
    reject_reasons = serializers.JSONField(required=False)


class ProjectListApi(APIView):
    @extend_schema(responses={200: ProjectOutput(many=True)}, operation_id="projects_list")
    def get(self, request):
        projects = project_selectors.project_list_for_user(request.user)
        if (only := getattr(request.auth, "project_id", None)) is not None:
            projects = projects.filter(pk=only)  # a token limited to one project lists that one
        return Response(ProjectOutput(projects, many=True).data)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput, **ERRORS}, operation_id="projects_create")
    def post(self, request):
        data = valid_input(ProjectInput, request.data)
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
        data = valid_input(ProjectInput, request.data)
        project = project_services.project_update(project=project, user=request.user, **data)
        return Response(ProjectOutput(project).data)


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    created_at = serializers.DateTimeField()


class MemberInput(StrictInput):
    username = serializers.CharField(help_text="A username or an e-mail address: whom to invite")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    invitee = serializers.CharField(help_text="The username or e-mail address invited")
    role = serializers.CharField()
    expires_at = serializers.DateTimeField()
    accept_url = serializers.URLField(help_text="The one-time link they join with (shown once: send it to them)")
    detail = serializers.CharField()


class MemberRoleInput(StrictInput):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberListApi(APIView):
    @extend_schema(responses={200: MemberOutput(many=True), **ERRORS}, operation_id="members_list")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        return Response(MemberOutput(project_selectors.project_members(project), many=True).data)

    @extend_schema(
        request=MemberInput,
        responses={202: InvitationOutput, **ERRORS},
        operation_id="members_add",
        description="Invite someone by username or e-mail address: nobody joins without accepting the one-time "
        "link, and the answer is the same whether or not such an account exists.",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(MemberInput, request.data)
        try:
            result = project_services.member_add_or_invite(
                project=project, actor=request.user, identifier=data["username"], role=data["role"]
            )
        except ApplicationError as exc:  # the service names the page's field; this API's is `username`
            if "identifier" not in exc.extra:
                raise
            extra = {("username" if k == "identifier" else k): v for k, v in exc.extra.items()}
            raise ApplicationError(exc.message, extra) from None
        invitation = result.invitation
        answer = {
            "id": invitation.pk,
            "invitee": invitation.invitee,
            "role": invitation.role,
            "expires_at": invitation.expires_at,
            "accept_url": request.build_absolute_uri(reverse("invitation-accept", args=[result.token])),
            "detail": f"Invitation created for {invitation.invitee}: they join once they accept the link.",
        }
        return Response(InvitationOutput(answer).data, status=status.HTTP_202_ACCEPTED)


class MemberDetailApi(APIView):
    def _membership(self, request, project_id: int, user_id: int) -> Membership:
        project = permissions.project_for(request.user, project_id)
        membership = project_selectors.project_members(project).filter(user_id=user_id).first()
        if membership is None:
            raise Http404("No such member.")
        return membership

    @extend_schema(request=MemberRoleInput, responses={200: MemberOutput, **ERRORS}, operation_id="members_update")
    def patch(self, request, project_id: int, user_id: int):
        membership = self._membership(request, project_id, user_id)
        data = valid_input(MemberRoleInput, request.data)
        membership = project_services.member_set_role(membership=membership, actor=request.user, role=data["role"])
        return Response(MemberOutput(membership).data)

    @extend_schema(responses={204: None, **ERRORS}, operation_id="members_remove")
    def delete(self, request, project_id: int, user_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        membership = self._membership(request, project_id, user_id)
        project_services.member_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
