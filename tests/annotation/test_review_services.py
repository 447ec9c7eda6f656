"""The review workflow through its services: state machine, permissions, consensus, queue, bulk actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from annotation.models import Comment, Example, ExampleStatus, Review, Role, Transition
from annotation.selectors import reviews as review_selectors
from annotation.selectors.examples import ExampleFilters
from annotation.services import examples as ex
from annotation.services import reviews as rv
from annotation.services.transitions import ALLOWED, example_transition
from annotune.errors import ApplicationError, ConflictError
from tests.factories import MembershipFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db
S = ExampleStatus


def submitted(project, author, n: int = 0) -> Example:
    example = ex.example_create(project=project, author=author, messages=conversation(n), submit=True)
    example.refresh_from_db()
    return example


@pytest.fixture
def reviewers(project):
    """Three more reviewers besides rita, for consensus."""
    users = [UserFactory(username=name) for name in ("ravi", "rosa", "ruth")]
    for user in users:
        MembershipFactory(project=project, user=user, role=Role.REVIEWER)
    return users


# --- the state machine ---------------------------------------------------------------------------

ALL_PAIRS = [(a, b) for a in S.values for b in S.values if a != b]


@pytest.mark.parametrize(("from_status", "to_status"), ALL_PAIRS)
def test_every_transition_is_allowed_or_refused(project, annotator, owner, from_status, to_status):
    example = submitted(project, annotator)
    Example.objects.filter(pk=example.pk).update(status=from_status)
    example.refresh_from_db()
    if to_status in ALLOWED[from_status]:
        transition = example_transition(example=example, to_status=to_status, actor=owner)
        assert (transition.from_status, transition.to_status) == (from_status, to_status)
        assert Example.objects.get(pk=example.pk).status == to_status
    else:
        with pytest.raises(ApplicationError, match="cannot go from"):
            example_transition(example=example, to_status=to_status, actor=owner)
        assert Example.objects.get(pk=example.pk).status == from_status


def test_the_legal_map_is_the_documented_one():
    assert ALLOWED == {
        S.DRAFT: {S.SUBMITTED},
        S.SUBMITTED: {S.APPROVED, S.REJECTED, S.CHANGES_REQUESTED},
        S.CHANGES_REQUESTED: {S.DRAFT},
        S.REJECTED: {S.DRAFT},
        S.APPROVED: {S.SUBMITTED},
    }


def test_full_cycle_through_the_services(project, annotator, reviewer, owner):
    example = submitted(project, annotator)
    assert example.review_round == 1
    rv.review_request_changes(example=example, reviewer=reviewer, comment="Say which menu.")
    example.refresh_from_db()
    assert example.status == S.CHANGES_REQUESTED
    # changes_requested → draft when the author edits
    ex.example_update(example=example, user=annotator, version=example.version, messages=conversation(99))
    example.refresh_from_db()
    assert example.status == S.DRAFT
    ex.example_submit(example=example, user=annotator)
    example.refresh_from_db()
    assert (example.status, example.review_round) == (S.SUBMITTED, 2)
    rv.review_reject(example=example, reviewer=reviewer, reason="style", comment="Too long.")
    example.refresh_from_db()
    assert example.status == S.REJECTED
    ex.example_submit(example=example, user=annotator)  # rejected → draft → submitted
    example.refresh_from_db()
    rv.review_approve(example=example, reviewer=reviewer)
    example.refresh_from_db()
    assert example.status == S.APPROVED
    rv.review_reopen(example=example, user=owner, comment="Check the price again.")
    example.refresh_from_db()
    assert (example.status, example.review_round) == (S.SUBMITTED, 4)
    trail = list(Transition.objects.filter(example=example).order_by("id").values_list("from_status", "to_status"))
    assert trail == [
        ("draft", "submitted"),
        ("submitted", "changes_requested"),
        ("changes_requested", "draft"),
        ("draft", "submitted"),
        ("submitted", "rejected"),
        ("rejected", "draft"),
        ("draft", "submitted"),
        ("submitted", "approved"),
        ("approved", "submitted"),
    ]
    rejected = Transition.objects.get(example=example, to_status=S.REJECTED)
    assert (rejected.actor, rejected.reason, rejected.comment) == (reviewer, "style", "Too long.")


@pytest.mark.parametrize("status", [S.DRAFT, S.APPROVED, S.REJECTED, S.CHANGES_REQUESTED])
@pytest.mark.parametrize("decision", ["approve", "reject", "request_changes"])
def test_only_submitted_examples_can_be_decided(project, annotator, reviewer, status, decision):
    example = submitted(project, annotator)
    Example.objects.filter(pk=example.pk).update(status=status)
    with pytest.raises(ApplicationError, match="only submitted examples can be reviewed"):
        decide(decision, example, reviewer)
    assert Review.objects.count() == 0


def decide(decision: str, example: Example, reviewer) -> Review:
    if decision == "approve":
        return rv.review_approve(example=example, reviewer=reviewer)
    if decision == "reject":
        return rv.review_reject(example=example, reviewer=reviewer, reason="style", comment="no")
    return rv.review_request_changes(example=example, reviewer=reviewer, comment="fix it")


@pytest.mark.parametrize("status", [S.DRAFT, S.SUBMITTED, S.REJECTED, S.CHANGES_REQUESTED])
def test_only_approved_examples_can_be_reopened(project, annotator, owner, status):
    example = submitted(project, annotator)
    Example.objects.filter(pk=example.pk).update(status=status)
    with pytest.raises(ApplicationError, match="only approved examples can be reopened"):
        rv.review_reopen(example=example, user=owner)


def test_only_owners_reopen(project, annotator, reviewer):
    example = submitted(project, annotator)
    rv.review_approve(example=example, reviewer=reviewer)
    with pytest.raises(PermissionDenied):
        rv.review_reopen(example=example, user=reviewer)
    assert Example.objects.get(pk=example.pk).status == S.APPROVED


# --- who may decide ------------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["approve", "reject", "request_changes"])
def test_a_reviewer_cannot_review_their_own_example(project, reviewer, decision):
    example = submitted(project, reviewer)
    with pytest.raises(PermissionDenied, match="your own example"):
        decide(decision, example, reviewer)
    assert Example.objects.get(pk=example.pk).status == S.SUBMITTED


@pytest.mark.parametrize("decision", ["approve", "reject", "request_changes"])
def test_an_annotator_cannot_decide(project, annotator, annotator2, decision):
    example = submitted(project, annotator)
    with pytest.raises(PermissionDenied, match="Only reviewers and owners"):
        decide(decision, example, annotator2)
    assert Example.objects.get(pk=example.pk).status == S.SUBMITTED


def test_outsiders_and_annotators_get_nothing_from_the_queue(project, annotator, annotator2, outsider):
    submitted(project, annotator)
    for user in (annotator2, outsider):
        with pytest.raises(PermissionDenied):
            rv.review_queue_next(project=project, reviewer=user)


def test_owner_can_review(project, annotator, owner):
    example = submitted(project, annotator)
    rv.review_approve(example=example, reviewer=owner)
    assert Example.objects.get(pk=example.pk).status == S.APPROVED


def test_reject_needs_a_known_reason_and_changes_need_a_comment(project, annotator, reviewer):
    example = submitted(project, annotator)
    with pytest.raises(ApplicationError) as info:
        rv.review_reject(example=example, reviewer=reviewer, reason="", comment="bad")
    assert "reason" in info.value.extra
    with pytest.raises(ApplicationError, match="Unknown reject reason"):
        rv.review_reject(example=example, reviewer=reviewer, reason="rude", comment="bad")
    with pytest.raises(ApplicationError, match="comment is required"):
        rv.review_request_changes(example=example, reviewer=reviewer, comment="   ")
    assert Example.objects.get(pk=example.pk).status == S.SUBMITTED
    assert Review.objects.count() == 0


def test_error_findings_block_approval(project, annotator, reviewer):
    example = submitted(project, annotator)
    findings = [
        {"code": "pii.email", "severity": "error", "message": "An e-mail address", "location": "messages[1]"},
        {"code": "style.length", "severity": "warning", "message": "Long answer", "location": "messages[1]"},
    ]
    Example.objects.filter(pk=example.pk).update(findings=findings, error_count=1)
    with pytest.raises(ApplicationError, match=r"Approval refused: 1 validation error.*pii\.email"):
        rv.review_approve(example=example, reviewer=reviewer)
    assert Example.objects.get(pk=example.pk).status == S.SUBMITTED
    # Warnings alone do not block; changes can still be requested.
    rv.review_request_changes(example=example, reviewer=reviewer, comment="Remove the address.")


def test_decisions_on_an_example_claimed_by_someone_else_are_refused(project, annotator, reviewer, owner):
    example = submitted(project, annotator)
    assert rv.review_queue_next(project=project, reviewer=owner).pk == example.pk
    with pytest.raises(ConflictError, match="Another reviewer"):
        rv.review_approve(example=example, reviewer=reviewer)
    # Once the claim expires, anyone may decide.
    Example.objects.filter(pk=example.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    rv.review_approve(example=example, reviewer=reviewer)


def test_comments_are_threaded_and_visible_to_author_and_reviewers(project, annotator, annotator2, reviewer):
    example = submitted(project, annotator)
    rv.review_request_changes(example=example, reviewer=reviewer, comment="Which invoice?")
    rv.comment_add(example=example, user=annotator, body="The March one.")
    with pytest.raises(PermissionDenied):
        rv.comment_add(example=example, user=annotator2, body="Me too")
    thread = list(review_selectors.example_comments(example).values_list("author__username", "body"))
    assert thread == [("rita", "Which invoice?"), ("anna", "The March one.")]
    assert Comment.objects.get(body="Which invoice?").review.decision == "request_changes"


# --- consensus -----------------------------------------------------------------------------------


@pytest.mark.parametrize("required", [2, 3])
def test_consensus_needs_that_many_distinct_approvals(project, annotator, reviewer, reviewers, required):
    project.reviews_required = required
    project.save()
    example = submitted(project, annotator)
    team = [reviewer, *reviewers]
    for n, user in enumerate(team[: required - 1], start=1):
        rv.review_approve(example=example, reviewer=user)
        example.refresh_from_db()
        assert example.status == S.SUBMITTED, f"approved after {n} of {required}"
        with pytest.raises(ConflictError, match="already reviewed"):
            rv.review_approve(example=example, reviewer=user)
    rv.review_approve(example=example, reviewer=team[required - 1])
    example.refresh_from_db()
    assert example.status == S.APPROVED
    assert Review.objects.filter(example=example, decision="approve").count() == required
    approved = Transition.objects.get(example=example, to_status=S.APPROVED)
    assert approved.comment == f"{required} of {required} approvals"


@pytest.mark.parametrize("required", [2, 3])
@pytest.mark.parametrize("veto", ["reject", "request_changes"])
def test_any_veto_sends_it_back_and_a_new_round_starts_over(project, annotator, reviewer, reviewers, required, veto):
    project.reviews_required = required
    project.save()
    example = submitted(project, annotator)
    rv.review_approve(example=example, reviewer=reviewer)
    decide(veto, example, reviewers[0])
    example.refresh_from_db()
    assert example.status == (S.REJECTED if veto == "reject" else S.CHANGES_REQUESTED)
    ex.example_submit(example=example, user=annotator)
    example.refresh_from_db()
    assert example.review_round == 2
    # rita's approval of round 1 no longer counts; she reviews round 2 again.
    team = [reviewer, *reviewers][:required]
    for user in team[:-1]:
        rv.review_approve(example=example, reviewer=user)
    example.refresh_from_db()
    assert example.status == S.SUBMITTED
    rv.review_approve(example=example, reviewer=team[-1])
    example.refresh_from_db()
    assert example.status == S.APPROVED


def test_edit_and_approve_writes_a_revision_by_the_reviewer(project, annotator, reviewer):
    example = submitted(project, annotator)
    fixed = conversation(0)
    fixed[1]["content"] = "Open Billing → Invoices, pick the invoice and press Export as PDF."
    review = rv.review_edit_and_approve(
        example=example, reviewer=reviewer, version=example.version, messages=fixed, comment="Tightened the steps."
    )
    example.refresh_from_db()
    assert review.decision == "approve"
    assert example.status == S.APPROVED
    assert example.messages == fixed
    latest = example.revisions.order_by("-version").first()
    assert (latest.author, latest.note, latest.version) == (reviewer, "edited in review", 2)
    with pytest.raises(ApplicationError, match="only submitted"):
        rv.review_edit_and_approve(example=example, reviewer=reviewer, version=2, messages=conversation(5))


def test_edit_and_approve_refuses_a_stale_version(project, annotator, reviewer):
    example = submitted(project, annotator)
    with pytest.raises(ConflictError):
        rv.review_edit_and_approve(example=example, reviewer=reviewer, version=7, messages=conversation(3))
    example.refresh_from_db()
    assert (example.status, example.version) == (S.SUBMITTED, 1)
    assert Review.objects.count() == 0


# --- the queue -----------------------------------------------------------------------------------


def test_queue_gives_oldest_not_own_not_reviewed_and_holds_a_claim(project, annotator, reviewer, owner, settings):
    settings.ANNOTUNE_REVIEW_CLAIM_MINUTES = 15
    own = submitted(project, reviewer, 0)
    first, second, third = (submitted(project, annotator, n) for n in (1, 2, 3))
    got = rv.review_queue_next(project=project, reviewer=reviewer)
    assert got.pk == first.pk != own.pk
    assert got.claimed_by == reviewer
    assert timedelta(minutes=14) < got.claim_expires_at - timezone.now() <= timedelta(minutes=15)
    # Asking again returns the same claim; another reviewer gets the next one.
    assert rv.review_queue_next(project=project, reviewer=reviewer).pk == first.pk
    assert rv.review_queue_next(project=project, reviewer=owner).pk == own.pk  # owner may review rita's
    assert rv.review_queue_next(project=project, reviewer=owner, after=own.pk).pk == second.pk
    # Skipping moves on and releases; going back returns to the previous free one.
    assert rv.review_queue_next(project=project, reviewer=reviewer, after=first.pk).pk == third.pk
    assert rv.review_queue_next(project=project, reviewer=reviewer, before=third.pk).pk == first.pk
    rv.review_approve(example=first, reviewer=reviewer)
    nxt = rv.review_queue_next(project=project, reviewer=reviewer)
    assert nxt.pk == third.pk  # second is held by the owner


def test_expired_claims_are_taken_over(project, annotator, reviewer, owner):
    example = submitted(project, annotator)
    rv.review_queue_next(project=project, reviewer=owner)
    assert rv.review_queue_next(project=project, reviewer=reviewer) is None
    Example.objects.filter(pk=example.pk).update(claim_expires_at=timezone.now() - timedelta(minutes=1))
    assert rv.review_queue_next(project=project, reviewer=reviewer).pk == example.pk


def test_queue_filters_by_category_and_author(project, annotator, annotator2, reviewer):
    a = ex.example_create(project=project, author=annotator, messages=conversation(1), category="billing", submit=True)
    b = ex.example_create(project=project, author=annotator2, messages=conversation(2), category="general", submit=True)
    assert rv.review_queue_next(project=project, reviewer=reviewer, category="general").pk == b.pk
    assert rv.review_queue_next(project=project, reviewer=reviewer, author="anna").pk == a.pk
    assert rv.review_queue_next(project=project, reviewer=reviewer, author="nobody") is None


def test_queue_skips_what_the_reviewer_reviewed_this_round(project, annotator, reviewer, owner):
    project.reviews_required = 2
    project.save()
    example = submitted(project, annotator)
    rv.review_approve(example=example, reviewer=reviewer)
    assert rv.review_queue_next(project=project, reviewer=reviewer) is None
    assert rv.review_queue_next(project=project, reviewer=owner).pk == example.pk
    counts = review_selectors.review_queue_counts(project, reviewer, now=timezone.now())
    assert (counts.submitted, counts.available) == (1, 0)


# --- bulk actions --------------------------------------------------------------------------------


def test_bulk_actions_are_for_owners_only(project, annotator, reviewer):
    example = submitted(project, annotator)
    with pytest.raises(PermissionDenied):
        rv.examples_bulk(
            project=project,
            user=reviewer,
            action="approve",
            examples=rv.bulk_selection(project=project, example_ids=[example.pk]),
        )


def test_bulk_approve_and_reject_audit_every_example(project, annotator, annotator2, owner):
    mine = [submitted(project, annotator, n) for n in range(3)]
    theirs = [submitted(project, annotator2, n) for n in range(3, 5)]
    draft = ex.example_create(project=project, author=annotator, messages=conversation(9))
    Example.objects.filter(pk=mine[2].pk).update(findings=[{"code": "x", "severity": "error", "message": "bad"}])
    filters = ExampleFilters(author="anna")
    result = rv.examples_bulk(
        project=project, user=owner, action="approve", examples=rv.bulk_selection(project=project, filters=filters)
    )
    assert (result.matched, result.changed) == (4, 2)
    assert result.skipped == {mine[2].pk: "has validation errors", draft.pk: "is draft"}
    assert set(Example.objects.filter(status=S.APPROVED).values_list("pk", flat=True)) == {mine[0].pk, mine[1].pk}
    assert Transition.objects.filter(to_status=S.APPROVED, actor=owner, reason="bulk_approve").count() == 2
    with pytest.raises(ApplicationError, match="reason"):
        rv.examples_bulk(
            project=project,
            user=owner,
            action="reject",
            examples=rv.bulk_selection(project=project, example_ids=[t.pk for t in theirs]),
        )
    result = rv.examples_bulk(
        project=project,
        user=owner,
        action="reject",
        reason="duplicate",
        comment="Same as the March set.",
        examples=rv.bulk_selection(project=project, example_ids=[t.pk for t in theirs]),
    )
    assert result.changed == 2
    assert Transition.objects.filter(to_status=S.REJECTED, reason="duplicate").count() == 2
    assert Comment.objects.filter(example__author=annotator2, body="Same as the March set.").count() == 2


def test_bulk_reopen_reassign_and_reset_claims(project, annotator, annotator2, reviewer, owner):
    examples = [submitted(project, annotator, n) for n in range(3)]
    rv.review_approve(example=examples[0], reviewer=reviewer)
    rv.review_queue_next(project=project, reviewer=reviewer)  # claims examples[1]
    ids = [e.pk for e in examples]
    result = rv.examples_bulk(
        project=project, user=owner, action="reopen", examples=rv.bulk_selection(project=project, example_ids=ids)
    )
    assert (result.changed, len(result.skipped)) == (1, 2)
    assert Example.objects.get(pk=ids[0]).review_round == 2
    result = rv.examples_bulk(
        project=project, user=owner, action="reset_claims", examples=rv.bulk_selection(project=project, example_ids=ids)
    )
    assert result.changed == 1
    assert not Example.objects.filter(claimed_by__isnull=False).exists()
    with pytest.raises(ApplicationError, match="Reassign to whom"):
        rv.examples_bulk(
            project=project,
            user=owner,
            action="reassign",
            new_author="oscar",
            examples=rv.bulk_selection(project=project, example_ids=ids),
        )
    result = rv.examples_bulk(
        project=project,
        user=owner,
        action="reassign",
        new_author="ben",
        examples=rv.bulk_selection(project=project, example_ids=ids),
    )
    assert result.changed == 3
    assert set(Example.objects.values_list("author", flat=True)) == {annotator2.pk}
    assert Transition.objects.filter(reason="reassign", comment="author anna → ben").count() == 3
    assert Transition.objects.filter(reason="claim_reset").count() == 1


def test_bulk_needs_a_selection(project, owner):
    with pytest.raises(ApplicationError, match="Choose the examples"):
        rv.bulk_selection(project=project, filters=ExampleFilters())


# --- statistics ----------------------------------------------------------------------------------


def test_dashboard_and_agreement(project, annotator, annotator2, reviewer, owner, django_assert_max_num_queries):
    project.reviews_required = 2
    project.save()
    a = [submitted(project, annotator, n) for n in range(3)]
    b = submitted(project, annotator2, 3)
    rv.review_approve(example=a[0], reviewer=reviewer)
    rv.review_approve(example=a[0], reviewer=owner)  # agree
    rv.review_approve(example=a[1], reviewer=reviewer)
    rv.review_reject(example=a[1], reviewer=owner, reason="factual_error")  # disagree
    rv.review_reject(example=b, reviewer=reviewer, reason="style")
    with django_assert_max_num_queries(4):
        dashboard = review_selectors.project_dashboard(project)
    assert dashboard.status_counts[S.APPROVED] == 1
    assert dashboard.status_counts[S.REJECTED] == 2
    assert dashboard.total == 4
    assert dashboard.approved_percent == 25
    anna = next(m for m in dashboard.members if m.username == "anna")
    assert (anna.written, anna.statuses[S.SUBMITTED]) == (3, 1)
    rita = next(m for m in dashboard.members if m.username == "rita")
    assert rita.reviews == {"approve": 2, "reject": 1}
    assert dict(dashboard.reasons) == {"factual_error": 1, "style": 1}
    agreement = review_selectors.review_agreement(project)
    [pair] = agreement.pairs
    assert {pair.reviewer_a, pair.reviewer_b} == {"olivia", "rita"}
    assert (pair.both_reviewed, pair.agreed, pair.rate) == (2, 1, 0.5)
    acceptance = {row.annotator: (row.decisions, row.approvals) for row in agreement.acceptance}
    assert acceptance == {"anna": (4, 3), "ben": (1, 0)}
    with django_assert_max_num_queries(1):  # cached until reviews change
        assert review_selectors.review_agreement(project) == agreement


def test_queue_walks_past_batches_of_examples_the_reviewer_may_not_take(
    project, annotator, reviewer, owner, monkeypatch
):
    monkeypatch.setattr(rv, "QUEUE_BATCH", 2)
    own = [submitted(project, reviewer, n) for n in range(5)]  # rita may not review these
    theirs = submitted(project, annotator, 9)
    assert rv.review_queue_next(project=project, reviewer=reviewer).pk == theirs.pk
    assert rv.review_queue_next(project=project, reviewer=owner).pk == own[0].pk
    # Going back from the start wraps to the end (rita holds the last one), through the batches.
    assert rv.review_queue_next(project=project, reviewer=owner, before=own[0].pk).pk == own[4].pk
    assert rv.review_queue_next(project=project, reviewer=owner, after=theirs.pk).pk == own[0].pk
