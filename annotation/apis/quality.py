"""Validation API: draft checks, example findings and fixes, knowledge base, claims, dataset runs, registry."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotune.api_errors import ERRORS
from annotune.serializers import NoInput, StrictInput, valid_input

from .. import permissions
from ..models import ClaimVerification, Example, Fact, KnowledgeDocument
from ..selectors import examples as example_selectors
from ..selectors import quality as quality_selectors
from ..services import examples as example_services
from ..services import knowledge as knowledge_services
from ..services import validation
from ..services import validation_runs as run_services
from .examples import ExampleOutput


class LocationOutput(serializers.Serializer):
    message = serializers.IntegerField()
    start = serializers.IntegerField(allow_null=True)
    end = serializers.IntegerField(allow_null=True)


class FindingOutput(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    message = serializers.CharField()
    location = LocationOutput(allow_null=True)
    suggestion = serializers.CharField(allow_null=True)
    evidence = serializers.DictField()


class FindingsOutput(serializers.Serializer):
    findings = FindingOutput(many=True)
    error_count = serializers.IntegerField()
    blocking = serializers.BooleanField()


def _findings_body(findings: list[dict]) -> dict:
    errors = len(validation.error_findings(findings))
    return {"findings": findings, "error_count": errors, "blocking": errors > 0}


def _example(request, project_id: int, example_id: int) -> Example:
    project = permissions.project_for(request.user, project_id)
    try:
        return example_selectors.example_detail(project, example_id)
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None


class ValidateInput(StrictInput):
    messages = serializers.JSONField(help_text='[{"role": "user", "content": "…"}, …]')
    category = serializers.CharField(required=False, allow_blank=True, default="")
    style_tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    fix = serializers.CharField(required=False, allow_blank=True, default="", help_text="Apply this fix code first.")


class ValidateOutput(FindingsOutput):
    messages = serializers.JSONField(help_text="The messages checked (fixed when `fix` was given).")


class ValidateDraftApi(APIView):
    @extend_schema(request=ValidateInput, responses={200: ValidateOutput, **ERRORS}, operation_id="validation_draft")
    def post(self, request, project_id: int):
        """Check a draft conversation (nothing is stored); optionally apply one fix first."""
        project = permissions.project_for(request.user, project_id)
        data = valid_input(ValidateInput, request.data)
        messages = data["messages"]
        if data["fix"]:
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                return Response({"detail": "messages must be a list of turns.", "errors": {}}, status=400)
            messages = validation.fixed_messages(project, messages, data["fix"])
        findings = validation.validate_draft(
            project=project, user=request.user, messages=messages, category=data["category"],
            style_tags=data["style_tags"],
        )  # fmt: skip
        return Response({**_findings_body(findings), "messages": messages})


class ExampleFindingsApi(APIView):
    @extend_schema(responses={200: FindingsOutput, **ERRORS}, operation_id="validation_example_findings")
    def get(self, request, project_id: int, example_id: int):
        """The example's stored findings (from its latest save)."""
        example = _example(request, project_id, example_id)
        return Response(_findings_body(example.findings or []))


class FixInput(StrictInput):
    version = serializers.IntegerField(help_text="The version you saw; a stale one is refused with 409.")
    code = serializers.CharField(help_text="A check code with an auto-fix (see the registry).")


class ExampleFixApi(APIView):
    @extend_schema(request=FixInput, responses={200: ExampleOutput, **ERRORS}, operation_id="validation_example_fix")
    def post(self, request, project_id: int, example_id: int):
        """Apply one fix to a saved example; it is stored as a new revision."""
        example = _example(request, project_id, example_id)
        data = valid_input(FixInput, request.data)
        example = example_services.example_apply_fix(example=example, user=request.user, **data)
        return Response(ExampleOutput(example).data)


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField()
    uploaded_by = serializers.CharField(source="uploaded_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class DocumentInput(StrictInput):
    title = serializers.CharField(max_length=200)
    text = serializers.CharField(trim_whitespace=False)


class DocumentListApi(APIView):
    @extend_schema(responses={200: DocumentOutput(many=True), **ERRORS}, operation_id="knowledge_documents_list")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        rows = KnowledgeDocument.objects.filter(project=project).select_related("uploaded_by").order_by("title", "id")
        return Response(DocumentOutput(rows, many=True).data)

    @extend_schema(
        request=DocumentInput, responses={201: DocumentOutput, **ERRORS}, operation_id="knowledge_documents_create"
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(DocumentInput, request.data)
        document = knowledge_services.document_add(project=project, user=request.user, **data)
        return Response(DocumentOutput(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailApi(APIView):
    def _get(self, request, project_id: int, document_id: int) -> KnowledgeDocument:
        project = permissions.project_for(request.user, project_id)
        try:
            return KnowledgeDocument.objects.select_related("uploaded_by", "project").get(
                project=project, pk=document_id
            )
        except KnowledgeDocument.DoesNotExist:
            raise Http404("No such document.") from None

    @extend_schema(responses={200: DocumentOutput, **ERRORS}, operation_id="knowledge_documents_retrieve")
    def get(self, request, project_id: int, document_id: int):
        return Response(DocumentOutput(self._get(request, project_id, document_id)).data)

    @extend_schema(responses={204: None, **ERRORS}, operation_id="knowledge_documents_delete")
    def delete(self, request, project_id: int, document_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        knowledge_services.document_delete(document=self._get(request, project_id, document_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FactOutput(serializers.Serializer):
    id = serializers.IntegerField()
    statement = serializers.CharField()
    source = serializers.CharField()
    created_at = serializers.DateTimeField()


class FactInput(StrictInput):
    statement = serializers.CharField()
    source = serializers.CharField(required=False, allow_blank=True, default="")


class FactListApi(APIView):
    @extend_schema(responses={200: FactOutput(many=True), **ERRORS}, operation_id="knowledge_facts_list")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        return Response(FactOutput(quality_selectors.facts(project), many=True).data)

    @extend_schema(request=FactInput, responses={201: FactOutput, **ERRORS}, operation_id="knowledge_facts_create")
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(FactInput, request.data)
        fact = knowledge_services.fact_add(project=project, user=request.user, **data)
        return Response(FactOutput(fact).data, status=status.HTTP_201_CREATED)


class FactDetailApi(APIView):
    @extend_schema(responses={204: None, **ERRORS}, operation_id="knowledge_facts_delete")
    def delete(self, request, project_id: int, fact_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        project = permissions.project_for(request.user, project_id)
        try:
            fact = Fact.objects.select_related("project").get(project=project, pk=fact_id)
        except Fact.DoesNotExist:
            raise Http404("No such fact.") from None
        knowledge_services.fact_delete(fact=fact, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClaimOutput(serializers.Serializer):
    id = serializers.IntegerField()
    claim_hash = serializers.CharField()
    claim_text = serializers.CharField()
    source = serializers.CharField()
    verified_by = serializers.CharField(source="verified_by.username")
    created_at = serializers.DateTimeField()


class ClaimInput(StrictInput):
    claim = serializers.CharField(help_text="The claim text as the fact check reported it (evidence.claim).")
    source = serializers.CharField(max_length=500, help_text="Where the claim was confirmed.")


class ClaimListApi(APIView):
    @extend_schema(responses={200: ClaimOutput(many=True), **ERRORS}, operation_id="knowledge_claims_list")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        return Response(ClaimOutput(quality_selectors.claim_verifications(project), many=True).data)

    @extend_schema(request=ClaimInput, responses={201: ClaimOutput, **ERRORS}, operation_id="knowledge_claims_verify")
    def post(self, request, project_id: int):
        """Mark a claim verified (reviewers and owners); the fact check then reports it as verified."""
        project = permissions.project_for(request.user, project_id)
        data = valid_input(ClaimInput, request.data)
        verification = knowledge_services.claim_verify(project=project, user=request.user, **data)
        return Response(ClaimOutput(verification).data, status=status.HTTP_201_CREATED)


class ClaimDetailApi(APIView):
    @extend_schema(responses={204: None, **ERRORS}, operation_id="knowledge_claims_delete")
    def delete(self, request, project_id: int, claim_id: int):
        valid_input(NoInput, request.data)  # takes no fields: refuse any
        project = permissions.project_for(request.user, project_id)
        try:
            verification = ClaimVerification.objects.select_related("project").get(project=project, pk=claim_id)
        except ClaimVerification.DoesNotExist:
            raise Http404("No such verification.") from None
        knowledge_services.claim_unverify(verification=verification, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    phase = serializers.CharField()
    dataset_version = serializers.IntegerField(source="dataset_version_id", allow_null=True)
    example_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    warning_count = serializers.IntegerField()
    error = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class RunDetailOutput(RunOutput):
    report = serializers.JSONField()


class RunInput(StrictInput):
    dataset_version = serializers.IntegerField(required=False, allow_null=True, default=None)


class RunListApi(APIView):
    @extend_schema(responses={200: RunOutput(many=True), **ERRORS}, operation_id="validation_runs_list")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        return Response(RunOutput(quality_selectors.run_history(project), many=True).data)

    @extend_schema(request=RunInput, responses={202: RunOutput, **ERRORS}, operation_id="validation_runs_start")
    def post(self, request, project_id: int):
        """Queue a dataset-level run over the approved pool (or a dataset version)."""
        from curated_data.models import DatasetVersion

        project = permissions.project_for(request.user, project_id)
        data = valid_input(RunInput, request.data)
        version = None
        if data["dataset_version"] is not None:
            version = DatasetVersion.objects.filter(project=project, pk=data["dataset_version"]).first()
            if version is None:
                raise Http404("No such dataset version.")
        run = run_services.run_start(project=project, user=request.user, dataset_version=version)
        return Response(RunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailApi(APIView):
    @extend_schema(responses={200: RunDetailOutput, **ERRORS}, operation_id="validation_runs_retrieve")
    def get(self, request, project_id: int, run_id: int):
        """Status, progress and (when finished) the report of a run."""
        project = permissions.project_for(request.user, project_id)
        return Response(RunDetailOutput(quality_selectors.run_for(project, run_id)).data)


class CheckOutput(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    check = serializers.CharField()
    scope = serializers.CharField()
    severity = serializers.CharField(help_text="Default severity.")
    effective = serializers.CharField(help_text="Severity under this project's policy, or 'off'.")
    fix = serializers.CharField(allow_null=True)


class CheckRegistryApi(APIView):
    @extend_schema(responses={200: CheckOutput(many=True), **ERRORS}, operation_id="validation_checks")
    def get(self, request, project_id: int):
        """Every check: code, title, default and effective severity, auto-fix kind."""
        project = permissions.project_for(request.user, project_id)
        return Response(CheckOutput(quality_selectors.check_entries(project), many=True).data)
