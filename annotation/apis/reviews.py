"""Review workflow: the queue, decisions, comments, reopen, owners' bulk actions, statistics."""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotune.api_errors import ERRORS
from annotune.serializers import StrictInput, valid_input

from .. import permissions
from ..models import Example, ExampleStatus, ReviewDecision
from ..selectors import examples as example_selectors
from ..selectors import reviews as review_selectors
from ..services import reviews as review_services
from .examples import ExampleOutput


def _example(request, project_id: int, example_id: int) -> Example:
    project = permissions.project_for(request.user, project_id)
    try:
        return example_selectors.example_detail(project, example_id)
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    location = serializers.CharField(required=False, allow_blank=True)
    suggestion = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class ReviewExampleOutput(ExampleOutput):
    review_round = serializers.IntegerField()
    claimed_by = serializers.CharField(source="claimed_by.username", allow_null=True, default=None)
    claim_expires_at = serializers.DateTimeField(allow_null=True)
    findings = FindingSerializer(many=True)


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    example = serializers.IntegerField(source="example_id")
    reviewer = serializers.CharField(source="reviewer.username")
    round = serializers.IntegerField()
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    reason = serializers.CharField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class DecisionOutput(serializers.Serializer):
    review = ReviewOutput()
    example = ReviewExampleOutput()


def _decide(request, project, example_id: int, decide, **data) -> Response:
    """Run a decision service on the example; the service locks and reads the row itself, so the
    API reads nothing before it. Answers with the review and the example as the decision left it."""
    try:
        review = decide(example=example_selectors.example_ref(project, example_id), reviewer=request.user, **data)
    except Example.DoesNotExist:
        raise Http404("No such example in this project.") from None
    return Response(DecisionOutput({"review": review, "example": review.example}).data)


# --- the queue -----------------------------------------------------------------------------------


class QueueNextInput(StrictInput):
    category = serializers.CharField(required=False, allow_blank=True)
    author = serializers.CharField(required=False, allow_blank=True, help_text="username")
    after = serializers.IntegerField(required=False, help_text="skip: claim the next example after this id")
    before = serializers.IntegerField(required=False, help_text="go back: claim the example before this id")


class QueueCountsOutput(serializers.Serializer):
    submitted = serializers.IntegerField()
    available = serializers.IntegerField(help_text="capped at 1000; see available_capped")
    available_capped = serializers.BooleanField()
    claimed_by_others = serializers.IntegerField()


class ReviewQueueNextApi(APIView):
    @extend_schema(
        request=QueueNextInput,
        responses={
            200: ReviewExampleOutput,
            204: OpenApiResponse(description="Nothing to review for you."),
            **ERRORS,
        },
        operation_id="review_next",
        description="Claim the oldest submitted example you may review (not yours, not reviewed by you this "
        "round, not claimed by someone else). Asking again returns the example you hold.",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(QueueNextInput, request.data)
        example = review_services.review_queue_next(project=project, reviewer=request.user, **data)
        if example is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ReviewExampleOutput(example).data)


class ReviewQueueApi(APIView):
    @extend_schema(responses={200: QueueCountsOutput, **ERRORS}, operation_id="review_queue_counts")
    def get(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        permissions.require(permissions.can_review(request.user, project), "Only reviewers and owners review.")
        counts = review_selectors.review_queue_counts(project, request.user, now=timezone.now())
        return Response(QueueCountsOutput(counts).data)


# --- decisions -----------------------------------------------------------------------------------


class CommentInput(StrictInput):
    comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")


class RejectInput(CommentInput):
    reason = serializers.CharField(help_text="one of the project's reject_reasons")


class RequestChangesInput(StrictInput):
    comment = serializers.CharField(trim_whitespace=False, help_text="what the author should change")


class EditApproveInput(CommentInput):
    version = serializers.IntegerField(help_text="The version you edited; a stale one is refused with 409.")
    messages = serializers.JSONField(required=False)
    category = serializers.CharField(required=False, allow_blank=True)
    style_tags = serializers.JSONField(required=False)
    context = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class ReviewApproveApi(APIView):
    @extend_schema(
        request=CommentInput,
        responses={200: DecisionOutput, **ERRORS},
        operation_id="review_approve",
        description="Approve. The example becomes approved once `reviews_required` distinct reviewers approved "
        "this round. Refused while the example has validation findings of severity error.",
    )
    def post(self, request, project_id: int, example_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(CommentInput, request.data)
        return _decide(request, project, example_id, review_services.review_approve, **data)


class ReviewRejectApi(APIView):
    @extend_schema(request=RejectInput, responses={200: DecisionOutput, **ERRORS}, operation_id="review_reject")
    def post(self, request, project_id: int, example_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(RejectInput, request.data)
        return _decide(request, project, example_id, review_services.review_reject, **data)


class ReviewRequestChangesApi(APIView):
    @extend_schema(
        request=RequestChangesInput, responses={200: DecisionOutput, **ERRORS}, operation_id="review_request_changes"
    )
    def post(self, request, project_id: int, example_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(RequestChangesInput, request.data)
        return _decide(request, project, example_id, review_services.review_request_changes, **data)


class ReviewEditApproveApi(APIView):
    @extend_schema(
        request=EditApproveInput,
        responses={200: DecisionOutput, **ERRORS},
        operation_id="review_edit_and_approve",
        description="Edit the example (a revision by you) and approve it in one step.",
    )
    def post(self, request, project_id: int, example_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(EditApproveInput, request.data)
        return _decide(request, project, example_id, review_services.review_edit_and_approve, **data)


class ExampleReviewsApi(APIView):
    @extend_schema(responses={200: ReviewOutput(many=True), **ERRORS}, operation_id="review_list")
    def get(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        permissions.require(permissions.can_see_comments(request.user, example), "Only the author and reviewers.")
        return Response(ReviewOutput(review_selectors.example_reviews(example), many=True).data)


class ReopenInput(StrictInput):
    comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")


class ExampleReopenApi(APIView):
    @extend_schema(
        request=ReopenInput,
        responses={200: ReviewExampleOutput, **ERRORS},
        operation_id="review_reopen",
        description="Owners: put an approved example back into the queue for a new round of reviews.",
    )
    def post(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        data = valid_input(ReopenInput, request.data)
        example = review_services.review_reopen(example=example, user=request.user, **data)
        return Response(ReviewExampleOutput(example_selectors.example_detail(example.project, example.pk)).data)


# --- comments ------------------------------------------------------------------------------------


class CommentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField(source="author.username")
    body = serializers.CharField()
    review = serializers.IntegerField(source="review_id", allow_null=True)
    created_at = serializers.DateTimeField()


class CommentCreateInput(StrictInput):
    body = serializers.CharField(trim_whitespace=False)


class ExampleCommentsApi(APIView):
    @extend_schema(responses={200: CommentOutput(many=True), **ERRORS}, operation_id="comments_list")
    def get(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        permissions.require(permissions.can_see_comments(request.user, example), "Only the author and reviewers.")
        return Response(CommentOutput(review_selectors.example_comments(example), many=True).data)

    @extend_schema(request=CommentCreateInput, responses={201: CommentOutput, **ERRORS}, operation_id="comments_add")
    def post(self, request, project_id: int, example_id: int):
        example = _example(request, project_id, example_id)
        data = valid_input(CommentCreateInput, request.data)
        comment = review_services.comment_add(example=example, user=request.user, **data)
        return Response(CommentOutput(comment).data, status=status.HTTP_201_CREATED)


class MyWorkExampleOutput(ExampleOutput):
    comments = CommentOutput(many=True, source="thread")
    reviews = ReviewOutput(many=True, source="returns")


class MyWorkApi(APIView):
    @extend_schema(responses={200: MyWorkExampleOutput(many=True), **ERRORS}, operation_id="review_my_work")
    def get(self, request, project_id: int):
        """Your examples sent back to you (changes requested, rejected) with their comments and reviews."""
        project = permissions.project_for(request.user, project_id)
        returned = review_selectors.my_returned_examples(project, request.user)
        return Response(MyWorkExampleOutput(returned, many=True).data)


# --- bulk actions --------------------------------------------------------------------------------


class BulkInput(StrictInput):
    action = serializers.ChoiceField(choices=review_services.BulkAction.ALL)
    example_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, max_length=5000
    )
    status = serializers.ChoiceField(choices=ExampleStatus.choices, required=False)
    category = serializers.CharField(required=False, allow_blank=True)
    author = serializers.CharField(required=False, allow_blank=True, help_text="username")
    q = serializers.CharField(required=False, allow_blank=True)
    new_author = serializers.CharField(required=False, allow_blank=True, help_text="reassign: a member's username")
    reason = serializers.CharField(required=False, allow_blank=True, help_text="reject: a reject reason code")
    comment = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")


class BulkOutput(serializers.Serializer):
    action = serializers.CharField()
    matched = serializers.IntegerField()
    changed = serializers.IntegerField()
    skipped = serializers.DictField(child=serializers.CharField(), help_text="example id → why it was skipped")


class BulkApi(APIView):
    @extend_schema(
        request=BulkInput,
        responses={200: BulkOutput, **ERRORS},
        operation_id="review_bulk",
        description="Owners: reassign, reopen, reset claims, approve or reject the examples given by "
        "`example_ids` or by the list filters. One audit transition per changed example.",
    )
    def post(self, request, project_id: int):
        project = permissions.project_for(request.user, project_id)
        data = valid_input(BulkInput, request.data)
        filters = example_selectors.ExampleFilters(
            status=data.get("status", ""),
            category=data.get("category", ""),
            author=data.get("author", ""),
            q=data.get("q", ""),
        )
        permissions.require(permissions.can_manage_project(request.user, project), "Only owners run bulk actions.")
        ids = data.get("example_ids")
        selection = review_services.bulk_selection(project=project, example_ids=ids, filters=filters)
        result = review_services.examples_bulk(
            project=project,
            user=request.user,
            action=data["action"],
            examples=selection,
            new_author=data.get("new_author"),
            reason=data.get("reason", ""),
            comment=data["comment"],
        )
        skipped = {str(pk): why for pk, why in result.skipped.items()}
        return Response(
            BulkOutput(
                {"action": result.action, "matched": result.matched, "changed": result.changed, "skipped": skipped}
            ).data
        )


# --- statistics ----------------------------------------------------------------------------------


class MemberStatsOutput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    written = serializers.IntegerField()
    statuses = serializers.DictField(child=serializers.IntegerField())
    reviewed = serializers.IntegerField()
    reviews = serializers.DictField(child=serializers.IntegerField())


class ReasonCountOutput(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class PairOutput(serializers.Serializer):
    reviewer_a = serializers.CharField()
    reviewer_b = serializers.CharField()
    both_reviewed = serializers.IntegerField()
    agreed = serializers.IntegerField()
    rate = serializers.FloatField()


class AcceptanceOutput(serializers.Serializer):
    annotator = serializers.CharField()
    decisions = serializers.IntegerField()
    approvals = serializers.IntegerField()
    rate = serializers.FloatField()


class AgreementOutput(serializers.Serializer):
    reviews = serializers.IntegerField()
    overall_rate = serializers.FloatField(allow_null=True)
    pairs = PairOutput(many=True)
    acceptance = AcceptanceOutput(many=True)


class StatsOutput(serializers.Serializer):
    total = serializers.IntegerField()
    status_counts = serializers.DictField(child=serializers.IntegerField())
    approved_percent = serializers.FloatField()
    members = MemberStatsOutput(many=True)
    reasons = ReasonCountOutput(many=True)
    agreement = AgreementOutput(allow_null=True, help_text="reviewers and owners only")


class ReviewStatsApi(APIView):
    @extend_schema(responses={200: StatsOutput, **ERRORS}, operation_id="review_stats")
    def get(self, request, project_id: int):
        """Counts per status and member, reject reasons; for reviewers also agreement statistics."""
        project = permissions.project_for(request.user, project_id)
        dashboard = review_selectors.project_dashboard(project)
        agreement = (
            review_selectors.review_agreement(project) if permissions.can_review(request.user, project) else None
        )
        data = {
            "total": dashboard.total,
            "status_counts": dashboard.status_counts,
            "approved_percent": dashboard.approved_percent,
            "members": dashboard.members,
            "reasons": [{"reason": reason, "count": n} for reason, n in dashboard.reasons],
            "agreement": agreement,
        }
        return Response(StatsOutput(data).data)
