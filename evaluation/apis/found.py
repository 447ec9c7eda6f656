"""API of "what training found": a job's per-example scores, the ranked lists, send-back, forgetting.

Reviewers and owners only (annotators 403, outsiders 404), like the pages.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import permissions
from annotation.selectors.flags import OUTCOMES
from annotation.services import flags as flag_services
from annotune.api_errors import ERRORS
from annotune.serializers import StrictInput, valid_input
from training.selectors import jobs as selectors

from ..selectors import found


def _job(request, project_id: int, job_id: int):
    job = selectors.job_for(request.user, project_id, job_id)
    permissions.require(
        permissions.can_review(request.user, job.project), "Only reviewers and owners see what training found."
    )
    return job


class ScoreOutput(serializers.Serializer):
    id = serializers.IntegerField(source="score.pk")
    example = serializers.IntegerField(source="example_id", allow_null=True, help_text="null: deleted since")
    example_status = serializers.CharField(source="example.status", allow_null=True, default=None)
    split = serializers.CharField(source="score.split")
    category = serializers.CharField(source="score.category")
    author = serializers.CharField()
    reviewer = serializers.CharField(help_text="Who last approved it ('—': nobody)")
    adapter_loss = serializers.FloatField(source="score.adapter_loss", allow_null=True)
    base_loss = serializers.FloatField(source="score.base_loss", allow_null=True)
    loss_drop = serializers.FloatField(source="score.loss_drop", allow_null=True, help_text="base − adapter")
    robust_z = serializers.FloatField(allow_null=True, help_text="(loss − category median) / (1.4826 × MAD)")
    rank = serializers.IntegerField(help_text="By adapter loss within its split, 1 = highest (0: no loss)")
    of = serializers.IntegerField(help_text="Scored examples in its split")
    top_percent = serializers.IntegerField()
    tokens = serializers.IntegerField(source="score.tokens")
    truncated_tokens = serializers.IntegerField(source="score.truncated_tokens")
    edited_since = serializers.BooleanField(help_text="Edited after the job took its data")
    sent_back = serializers.ChoiceField(
        source="outcome",
        choices=["", *OUTCOMES],
        help_text="'' when this job did not send it back; else what happened since",
    )


class ScoreQuery(StrictInput):
    category = serializers.CharField(required=False, allow_blank=True, max_length=150)
    author = serializers.CharField(required=False, allow_blank=True, max_length=150, help_text="username")
    split = serializers.ChoiceField(choices=["", *found.SPLITS], required=False)
    ordering = serializers.ChoiceField(choices=list(found.ORDERINGS), required=False, default="-adapter_loss")
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)


class ScorePages(PageNumberPagination):
    page_size = settings.ANNOTUNE_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = 500


class JobScoresApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("category", str),
            OpenApiParameter("author", str, description="username"),
            OpenApiParameter("split", str, enum=list(found.SPLITS)),
            OpenApiParameter(
                "ordering",
                str,
                enum=list(found.ORDERINGS),
                description="outlier: |robust z| within the category, largest first",
            ),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses={200: ScoreOutput(many=True), **ERRORS},
        operation_id="training_job_scores",
        summary="Per-example loss of a job (paged, filtered, ordered)",
    )
    def get(self, request, project_id: int, job_id: int):
        job = _job(request, project_id, job_id)
        query = valid_input(ScoreQuery, request.query_params)
        findings = found.job_findings(job)
        qs = found.score_queryset(job, findings, found.ScoreFilters.from_query(query), query["ordering"])
        paginator = ScorePages()
        page = paginator.paginate_queryset(qs, request, view=self)
        rows = found.rows_for(job, findings, list(page))
        return paginator.get_paginated_response(ScoreOutput(rows, many=True).data)


class CategoryOutput(serializers.Serializer):
    category = serializers.CharField()
    count = serializers.IntegerField()
    median = serializers.FloatField(allow_null=True)
    mad = serializers.FloatField(allow_null=True)
    train_mean = serializers.FloatField(allow_null=True)
    train_n = serializers.IntegerField()
    validation_mean = serializers.FloatField(allow_null=True)
    validation_n = serializers.IntegerField()
    gap = serializers.FloatField(allow_null=True, help_text="validation mean − train mean")
    overfits = serializers.BooleanField()


class HistogramOutput(serializers.Serializer):
    edges = serializers.ListField(child=serializers.FloatField())
    adapter = serializers.ListField(child=serializers.IntegerField())
    base = serializers.ListField(child=serializers.IntegerField())


class RankingsOutput(serializers.Serializer):
    hardest = ScoreOutput(many=True)
    learned = ScoreOutput(many=True)
    outliers = ScoreOutput(many=True)


class FlagOutput(serializers.Serializer):
    example = serializers.IntegerField(source="flag.example_number")
    sent_by = serializers.CharField(source="flag.sent_by.username")
    created_at = serializers.DateTimeField(source="flag.created_at")
    comment = serializers.CharField(source="flag.comment")
    outcome = serializers.ChoiceField(choices=list(OUTCOMES))
    detail = serializers.CharField()


class FoundOutput(serializers.Serializer):
    total = serializers.IntegerField()
    split_counts = serializers.DictField(child=serializers.IntegerField())
    unscored = serializers.IntegerField()
    categories = CategoryOutput(many=True)
    histogram = HistogramOutput()
    rankings = RankingsOutput()
    sent_back = FlagOutput(many=True)
    note = serializers.CharField(help_text="Why there are no scores ('' when there are)")


class FoundQuery(StrictInput):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100)


class JobFoundApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description="rows per list, 1–100 (default 10)")],
        responses={200: FoundOutput, **ERRORS},
        operation_id="training_job_found",
        summary="What training found: ranked lists, per-category gaps, loss histogram, sent-back examples",
    )
    def get(self, request, project_id: int, job_id: int):
        job = _job(request, project_id, job_id)
        query = valid_input(FoundQuery, request.query_params)
        findings = found.job_findings(job)
        limit = query.get("limit", 10)
        body = {
            "total": findings.total,
            "split_counts": findings.split_counts,
            "unscored": findings.unscored,
            "categories": findings.categories,
            "histogram": findings.histogram,
            "rankings": {key: found.ranked(job, findings, key, limit=limit) for key in found.RANKINGS},
            "sent_back": found.job_flags(job).rows,
            "note": found.job_state_note(job, findings),
        }
        return Response(FoundOutput(body).data)


class SendBackInput(StrictInput):
    example_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=flag_services.MAX_SEND_BACK,
        help_text="Examples scored by this job",
    )
    ranking = serializers.ChoiceField(
        choices=[key for key in flag_services.RANKINGS if key],
        required=False,
        default="",
        help_text="The list they were picked from (named in the comment)",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SkippedOutput(serializers.Serializer):
    example = serializers.IntegerField()
    reason = serializers.CharField()


class SendBackOutput(serializers.Serializer):
    sent = serializers.ListField(child=serializers.IntegerField())
    skipped = SkippedOutput(many=True)
    detail = serializers.CharField()


class JobSendBackApi(APIView):
    @extend_schema(
        request=SendBackInput,
        responses={200: SendBackOutput, **ERRORS},
        operation_id="training_job_send_back",
        summary="Send examples back to review with their loss as evidence (they come first in the queue)",
        description="Approved examples go back to submitted (a new review round); submitted ones move to the head "
        "of the queue. Deleted, unscored, edited-since, returned-to-author or already-sent examples are skipped "
        "with the reason.",
    )
    def post(self, request, project_id: int, job_id: int):
        job = _job(request, project_id, job_id)
        data = valid_input(SendBackInput, request.data)
        findings = found.job_findings(job)
        result = flag_services.examples_send_back(
            project=job.project,
            user=request.user,
            job_id=job.pk,
            example_ids=data["example_ids"],
            evidence=found.evidence_for(job, findings, data["example_ids"]),
            data_time=found.data_time(job),
            ranking=data["ranking"],
            note=data["note"],
        )
        body = {
            "sent": result.sent,
            "skipped": [{"example": pk, "reason": why} for pk, why in result.skipped.items()],
            "detail": result.summary(),
        }
        return Response(SendBackOutput(body).data)


class ForgettingSampleOutput(serializers.Serializer):
    prompt = serializers.ListField(child=serializers.DictField())
    before = serializers.CharField()
    after = serializers.CharField()


class ForgettingReportOutput(serializers.Serializer):
    control_ratio = serializers.FloatField(allow_null=True, help_text="control perplexity adapter ÷ base")
    control_base_ppl = serializers.FloatField(allow_null=True)
    control_adapter_ppl = serializers.FloatField(allow_null=True)
    validation_ratio = serializers.FloatField(allow_null=True)
    control_examples = serializers.IntegerField()
    source = serializers.CharField()
    samples = ForgettingSampleOutput(many=True)
    threshold = serializers.FloatField()
    warn = serializers.BooleanField()


class ForgettingOutput(serializers.Serializer):
    report = ForgettingReportOutput()
    general_category = serializers.CharField()
    general_share = serializers.FloatField(allow_null=True)
    general_target = serializers.FloatField(allow_null=True)
    cause = serializers.CharField()
    advice = serializers.CharField()


class JobForgettingApi(APIView):
    @extend_schema(
        responses={200: ForgettingOutput, **ERRORS},
        operation_id="training_job_forgetting",
        summary="The job's forgetting check, with its likely cause and what to do (404 when it has none)",
    )
    def get(self, request, project_id: int, job_id: int):
        job = _job(request, project_id, job_id)
        view = found.forgetting(job, job.project, found.job_findings(job))
        if view is None:
            raise Http404("This job has no forgetting report (it did not succeed, or it predates the check).")
        return Response(ForgettingOutput(view).data)
