"""The review workflow: claim from the queue, decide, reach consensus, reopen, comment, bulk actions.

Every status change goes through `transitions.example_transition` (audited). A decision locks the
example row first, so two reviewers deciding at once are serialised and the second sees the new
state. Reviews are unique per (example, submission round, reviewer): a reviewer decides once per
round, and a resubmitted example (new round) is reviewed afresh. An approval (one at a time or an owner's
bulk approval) turns the example's corrected drafts into preference pairs in its transaction
(`preferences.preference_pairs_record`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotune.errors import ApplicationError, ConflictError

from .. import permissions
from ..models import Comment, Example, ExampleStatus, Membership, Project, Review, ReviewDecision, Transition
from ..selectors import examples as example_selectors
from ..selectors.reviews import claimed_ids, project_member_id, queue_batch_ids, queue_candidates
from .conversations import clean_messages
from .examples import example_update
from .preferences import preference_pairs_record, preference_pairs_record_many
from .transitions import example_transition, examples_transition_bulk
from .validation import error_findings

S = ExampleStatus
D = ReviewDecision
CLAIM_ATTEMPTS = 8
# The first batch is small: it nearly always holds a claimable example, and a long IN list costs
# more to plan and send than the rows it saves. Later batches (a long reviewed head) are larger.
QUEUE_FIRST_BATCH = 32
QUEUE_BATCH = 256
MAX_COMMENT_CHARS = 10_000
BULK_LIMIT = 5_000
RELEASED = {"claimed_by": None, "claim_expires_at": None}  # a decision ends the reviewer's claim


def claim_ttl() -> timedelta:
    return timedelta(minutes=settings.ANNOTUNE_REVIEW_CLAIM_MINUTES)


def blocking_findings(example: Example) -> list[dict[str, Any]]:
    """Validation findings of severity "error": they block approval until fixed (the rule that
    also blocks submitting, `validation.error_findings`)."""
    return error_findings(f for f in example.findings or [] if isinstance(f, dict))


def _refuse_blocked(example: Example) -> None:
    errors = blocking_findings(example)
    if errors:
        # Messages end with their own full stop; the sentence adds one after the list (no "never closed..").
        listed = "; ".join(
            f"{f.get('code', 'error')}: {str(f.get('message', '')).rstrip('.')}".strip() for f in errors[:3]
        )
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ApplicationError(
            f"Approval refused: {len(errors)} validation error(s) must be fixed first — {listed}{more}. "
            "Request changes, or edit the example so the checks pass.",
            {"findings": [f.get("message", "") for f in errors]},
        )


def clean_comment(comment: Any, *, required: bool, what: str = "comment") -> str:
    if comment is None:
        comment = ""
    if not isinstance(comment, str) or "\x00" in comment:
        raise ApplicationError("A comment must be text without NUL characters.", {what: ["Send plain text."]})
    comment = comment.replace("\r\n", "\n").strip()
    if required and not comment:
        raise ApplicationError("Say what to change: a comment is required.", {what: ["Write a comment."]})
    if len(comment) > MAX_COMMENT_CHARS:
        raise ApplicationError(
            f"The comment has {len(comment):,} characters; the limit is {MAX_COMMENT_CHARS:,}.",
            {what: ["Shorten the comment."]},
        )
    return comment


# --- the queue -----------------------------------------------------------------------------------


@transaction.atomic
def review_queue_next(
    *,
    project: Project,
    reviewer,
    category: str | None = None,
    author: str | None = None,
    after: int | None = None,
    before: int | None = None,
) -> Example | None:
    """Claim the next submitted example the reviewer may review; None when the queue is empty.

    Examples sent back by training (flagged in their current round) come first, oldest first; then
    the others, oldest first.

    A reviewer who already holds a live claim gets that example back (a reload does not skip it).
    `after` / `before` (an example id) move on: the current claim is released and the next example
    after (or before) that id is claimed, wrapping around at the end of the queue.
    """
    permissions.require(permissions.can_review(reviewer, project), "Only reviewers and owners review examples.")
    now = timezone.now()
    author_id = project_member_id(project, author)
    mine = Example.objects.filter(project=project, claimed_by=reviewer)
    held_ids = claimed_ids(project, reviewer)
    if held_ids and after is None and before is None:
        candidates = queue_candidates(project, reviewer, now=now, category=category or None, author_id=author_id)
        held = candidates.filter(pk__in=held_ids, claim_expires_at__gte=now).values_list("pk", flat=True).first()
        if held is not None:
            if len(held_ids) > 1:
                mine.exclude(pk=held).update(claimed_by=None, claim_expires_at=None)
            # Extended only while it is still this reviewer's: a claim that expired after the read above
            # may have been taken by another reviewer meanwhile, and then this one moves on.
            if Example.objects.filter(pk=held, claimed_by=reviewer).update(claim_expires_at=now + claim_ttl()):
                return _claimed(held, project, reviewer)
            held_ids = claimed_ids(project, reviewer)
    if held_ids:
        mine.update(claimed_by=None, claim_expires_at=None)
    scan = {"reviewer": reviewer, "now": now, "category": category or None, "author_id": author_id}
    if after is not None:  # skip forward, wrapping around to the start of the queue
        return _scan(project, start=after, **scan) or _scan(project, stop=after, **scan)
    if before is not None:  # go back, wrapping around to the end of the queue
        return _scan(project, start=before, descending=True, **scan) or _scan(
            project, stop=before, descending=True, **scan
        )
    return _scan(project, flagged=True, **scan) or _scan(project, **scan)


def _scan(
    project: Project,
    *,
    reviewer,
    now,
    category: str | None,
    author_id: int | None,
    start: int | None = None,
    stop: int | None = None,
    descending: bool = False,
    flagged: bool = False,
) -> Example | None:
    """Claim the first example the reviewer may take, walking the queue in id order, a batch at a time.

    Each batch of ids comes from the submitted examples alone (project, status and the queue
    filters), which only the partial queue indexes answer well; the reviewer's own conditions
    (not theirs, not reviewed, not claimed) then apply within the batch. One query over all
    conditions lets the planner walk the primary key instead and step over every example
    reviewed before (the head of an old queue is long): this keeps "next" flat as a project grows.
    """
    cursor, size = start, QUEUE_FIRST_BATCH
    while True:
        ids = queue_batch_ids(
            project,
            limit=size,
            category=category,
            author_id=author_id,
            after=cursor,
            until=stop,
            descending=descending,
            flagged=flagged,
        )
        if not ids:
            return None
        claimed = _claim_first(ids, descending, project=project, reviewer=reviewer, now=now)
        if claimed is not None or len(ids) < size:
            return claimed
        cursor, size = ids[-1], QUEUE_BATCH


def _claim_first(ids: list[int], descending: bool, *, project: Project, reviewer, now) -> Example | None:
    """Claim the first of `ids` (a batch of the queue, in order) that the reviewer may take; None if none.

    The batch already has the queue filters (project, status, category, author), so only the
    reviewer's own conditions of `queue_candidates` remain to check.
    """
    expires = now + claim_ttl()
    if connection.vendor == "postgresql":
        # PostgreSQL: one statement locks the first row nobody else is locking and claims it.
        with connection.cursor() as cursor:
            cursor.execute(
                _CLAIM_SQL_DESC if descending else _CLAIM_SQL,
                {"ids": ids, "reviewer": reviewer.pk, "now": now, "expires": expires, "submitted": S.SUBMITTED},
            )
            row = cursor.fetchone()
        return None if row is None else _claimed(row[0], project, reviewer)
    qs = queue_candidates(project, reviewer, now=now).filter(pk__in=ids)
    qs = qs.order_by("-pk") if descending else qs
    # SQLite has no row locks: a conditional UPDATE is the claim; losing a race means trying the next.
    for _ in range(CLAIM_ATTEMPTS):
        pk = qs.values_list("pk", flat=True).first()
        if pk is None:
            return None
        won = (
            Example.objects.filter(pk=pk, status=S.SUBMITTED)
            .filter(Q(claimed_by__isnull=True) | Q(claim_expires_at__lt=now) | Q(claimed_by=reviewer))
            .update(claimed_by=reviewer, claim_expires_at=expires)
        )
        if won == 1:
            return _claimed(pk, project, reviewer)
    raise ConflictError("The review queue is busy right now; try again in a moment.")


# The claim is the queue's hot statement, so it is written by hand (the ORM's query building costs
# several times what PostgreSQL spends on it). Its conditions are `queue_candidates`' (the batch of
# ids already has the project, status and queue filters): not the reviewer's own example, not held
# by another live claim, not reviewed by them this round.
_CLAIM_SQL = """
UPDATE annotation_example SET claimed_by_id = %(reviewer)s, claim_expires_at = %(expires)s
WHERE id = (
    SELECT e.id FROM annotation_example e
    WHERE e.id = ANY(%(ids)s) AND e.status = %(submitted)s AND e.author_id <> %(reviewer)s
      AND (e.claimed_by_id IS NULL OR e.claim_expires_at < %(now)s OR e.claimed_by_id = %(reviewer)s)
      AND NOT EXISTS (
          SELECT 1 FROM annotation_review r
          WHERE r.example_id = e.id AND r.reviewer_id = %(reviewer)s AND r.round = e.review_round
      )
    ORDER BY e.id LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""
_CLAIM_SQL_DESC = _CLAIM_SQL.replace("ORDER BY e.id LIMIT 1", "ORDER BY e.id DESC LIMIT 1")


def _claimed(pk: int, project: Project, reviewer) -> Example:
    example = example_selectors.example_with_author(project, pk)
    example.claimed_by = reviewer
    return example


# --- decisions -----------------------------------------------------------------------------------


def _lock(example: Example) -> Example:
    """The example's row, locked and read afresh (within its project: Example.DoesNotExist otherwise).

    `example` may be a reference (`example_selectors.example_ref`): a decision needs no read before this one.
    """
    return example_selectors.example_with_author(example.project, example.pk, lock=True)


def _check_can_decide(example: Example, reviewer) -> None:
    project = example.project
    if not permissions.can_review(reviewer, project):
        raise PermissionDenied("Only reviewers and owners can review examples.")
    if example.author_id == reviewer.pk:
        raise PermissionDenied("You cannot review your own example.")
    if example.status != S.SUBMITTED:
        raise ApplicationError(
            f"This example is {example.get_status_display().lower()}; only submitted examples can be reviewed."
        )
    now = timezone.now()
    held_by_other = example.claimed_by_id not in (None, reviewer.pk)
    if held_by_other and example.claim_expires_at and example.claim_expires_at >= now:
        minutes = max(1, int((example.claim_expires_at - now).total_seconds() // 60))
        raise ConflictError(f"Another reviewer is reviewing this example (their claim ends in about {minutes} min).")
    # "Already reviewed this round" is left to the unique constraint on (example, round, reviewer):
    # see _record. The example row is locked, so nothing else can race it.


def _record(example: Example, reviewer, decision: str, *, reason: str = "", comment: str = "") -> Review:
    """The reviewer's decision for this round, with its comment; then the claim is released.

    A second decision by the same reviewer in the same round violates the unique constraint: the
    error rolls back the caller's whole transaction, so nothing of the decision is written.
    """
    try:
        review = Review.objects.create(
            project_id=example.project_id,
            example=example,
            reviewer=reviewer,
            round=example.review_round,
            decision=decision,
            reason=reason,
            comment=comment,
        )
    except IntegrityError:
        raise ConflictError("You already reviewed this submission; it is waiting for other reviewers.") from None
    if comment:
        Comment.objects.create(example=example, author=reviewer, review=review, body=comment)
    review.example = example
    return review


def _release(example: Example) -> None:
    """The decision is recorded but the status stays (consensus not reached): free the claim."""
    Example.objects.filter(pk=example.pk).update(**RELEASED)
    example.claimed_by, example.claim_expires_at = None, None


def _approve(example: Example, reviewer, comment: str) -> Review:
    _refuse_blocked(example)
    review = _record(example, reviewer, D.APPROVE, comment=comment)
    required = example.project.reviews_required
    approvals = 1
    if required > 1:
        approvals = Review.objects.filter(example=example, round=example.review_round, decision=D.APPROVE).count()
    if approvals >= required:
        note = f"{approvals} of {required} approvals" if required > 1 else ""
        example_transition(example=example, to_status=S.APPROVED, actor=reviewer, comment=note, **RELEASED)
        # Corrected drafts become preference pairs in the same transaction as the approval.
        preference_pairs_record(example=example, approved_by=reviewer)
    else:
        _release(example)
    return review


@transaction.atomic
def review_approve(*, example: Example, reviewer, comment: Any = "") -> Review:
    """Approve; the example becomes approved once `reviews_required` distinct reviewers approved."""
    locked = _lock(example)
    _check_can_decide(locked, reviewer)
    return _approve(locked, reviewer, clean_comment(comment, required=False))


@transaction.atomic
def review_reject(*, example: Example, reviewer, reason: Any, comment: Any = "") -> Review:
    """Reject with one of the project's reason codes; the example goes back to its author at once."""
    locked = _lock(example)
    _check_can_decide(locked, reviewer)
    reasons = list(locked.project.reject_reasons or [])
    if not isinstance(reason, str) or reason not in reasons:
        raise ApplicationError(
            "Choose a reason for the rejection." if not reason else f"Unknown reject reason {reason!r}.",
            {"reason": [f"One of: {', '.join(reasons)}."]},
        )
    comment = clean_comment(comment, required=False)
    review = _record(locked, reviewer, D.REJECT, reason=reason, comment=comment)
    example_transition(example=locked, to_status=S.REJECTED, actor=reviewer, reason=reason, comment=comment, **RELEASED)
    return review


@transaction.atomic
def review_request_changes(*, example: Example, reviewer, comment: Any) -> Review:
    """Send the example back to its author with a comment saying what to change."""
    locked = _lock(example)
    _check_can_decide(locked, reviewer)
    comment = clean_comment(comment, required=True)
    review = _record(locked, reviewer, D.REQUEST_CHANGES, comment=comment)
    example_transition(example=locked, to_status=S.CHANGES_REQUESTED, actor=reviewer, comment=comment, **RELEASED)
    return review


@transaction.atomic
def review_edit_and_approve(
    *,
    example: Example,
    reviewer,
    version: Any,
    messages: Any = None,
    category: Any = None,
    style_tags: Any = None,
    context: Any = None,
    comment: Any = "",
) -> Review:
    """Fix the example and approve it in one step; the edit is a revision written by the reviewer."""
    locked = _lock(example)
    _check_can_decide(locked, reviewer)
    comment = clean_comment(comment, required=False)
    edited = example_update(
        example=locked,
        user=reviewer,
        version=version,
        messages=messages,
        category=category,
        style_tags=style_tags,
        context=context,
        note="edited in review",
        allow_status=frozenset({S.SUBMITTED}),
    )
    clean_messages(edited.messages, require_complete=True)
    edited.project = locked.project
    return _approve(edited, reviewer, comment)


@transaction.atomic
def review_reopen(*, example: Example, user, comment: Any = "") -> Example:
    """Owner only: put an approved example back into the queue for a new round of reviews."""
    permissions.require(
        permissions.can_manage_project(user, example.project), "Only project owners can reopen an approved example."
    )
    locked = _lock(example)
    if locked.status != S.APPROVED:
        raise ApplicationError(
            f"This example is {locked.get_status_display().lower()}; only approved examples can be reopened."
        )
    comment = clean_comment(comment, required=False)
    _reopen_rows([locked.pk], actor=user, comment=comment or "reopened")
    if comment:
        Comment.objects.create(example=locked, author=user, body=comment)
    locked.refresh_from_db()
    return locked


def _reopen_rows(ids: list[int], *, actor, comment: str, reason: str = "reopen") -> int:
    now = timezone.now()
    return examples_transition_bulk(
        ids=ids,
        from_status=S.APPROVED,
        to_status=S.SUBMITTED,
        actor=actor,
        reason=reason,
        comment=comment,
        review_round=F("review_round") + 1,
        submitted_at=now,
        claimed_by=None,
        claim_expires_at=None,
        updated_at=now,
    )


# --- comments ------------------------------------------------------------------------------------


@transaction.atomic
def comment_add(*, example: Example, user, body: Any) -> Comment:
    """Add to an example's thread: its author, reviewers and owners talk there."""
    permissions.require(
        permissions.can_see_comments(user, example), "Only the author, reviewers and owners can comment here."
    )
    return Comment.objects.create(example=example, author=user, body=clean_comment(body, required=True, what="body"))


# --- bulk actions (owners) -----------------------------------------------------------------------


class BulkAction:
    REASSIGN = "reassign"
    REOPEN = "reopen"
    RESET_CLAIMS = "reset_claims"
    APPROVE = "approve"
    REJECT = "reject"

    ALL = (REASSIGN, REOPEN, RESET_CLAIMS, APPROVE, REJECT)
    LABELS = {
        REASSIGN: "Reassign to another author",
        REOPEN: "Reopen approved examples",
        RESET_CLAIMS: "Reset review claims",
        APPROVE: "Approve submitted examples",
        REJECT: "Reject submitted examples",
    }
    # Which rows of the selection each action applies to; the rest are counted as skipped.
    APPLIES_TO = {
        REASSIGN: None,
        REOPEN: S.APPROVED,
        RESET_CLAIMS: S.SUBMITTED,
        APPROVE: S.SUBMITTED,
        REJECT: S.SUBMITTED,
    }


@dataclass
class BulkResult:
    action: str
    matched: int
    changed: int
    skipped: dict[int, str] = field(default_factory=dict)


def bulk_selection(
    *, project: Project, example_ids: list[int] | None = None, filters: example_selectors.ExampleFilters | None = None
) -> QuerySet[Example]:
    """The examples a bulk action targets: explicit ids, or everything matching the list filters."""
    if example_ids is not None:
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in example_ids):
            raise ApplicationError("example_ids must be whole numbers.", {"example_ids": ["Send a list of ids."]})
        return Example.objects.filter(project=project, pk__in=example_ids).order_by("pk")
    if filters is None or not any((filters.status, filters.category, filters.author, filters.q)):
        raise ApplicationError(
            "Choose the examples: filter by status, category, author or text, or list their ids.",
            {"filters": ["An empty filter would select the whole project."]},
        )
    return example_selectors.example_queryset(project, filters).order_by("pk")


@transaction.atomic
def examples_bulk(
    *,
    project: Project,
    user,
    action: str,
    examples: QuerySet[Example],
    new_author: str | None = None,
    reason: str = "",
    comment: Any = "",
) -> BulkResult:
    """Apply one owner action to a selection; one audit Transition per changed example."""
    permissions.require(permissions.can_manage_project(user, project), "Only project owners can run bulk actions.")
    if action not in BulkAction.ALL:
        raise ApplicationError(
            f"Unknown bulk action {action!r}.", {"action": [f"One of: {', '.join(BulkAction.ALL)}."]}
        )
    comment = clean_comment(comment, required=False)
    new_author_user = None
    if action == BulkAction.REASSIGN:
        membership = Membership.objects.filter(project=project, user__username=new_author or "").first()
        if membership is None:
            raise ApplicationError(
                "Reassign to whom? Name a member of this project.", {"new_author": ["A member's username."]}
            )
        new_author_user = get_user_model().objects.get(pk=membership.user_id)
    if action == BulkAction.REJECT and reason not in (project.reject_reasons or []):
        raise ApplicationError(
            "Choose a reason for the rejection.", {"reason": [f"One of: {', '.join(project.reject_reasons or [])}."]}
        )
    # Lock the selection in id order (PostgreSQL); SQLite serialises writers on its own.
    rows = list(
        examples.filter(project=project)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", "status", "author_id", "claimed_by_id", "findings")[: BULK_LIMIT + 1]
    )
    if len(rows) > BULK_LIMIT:
        raise ApplicationError(f"The selection has more than {BULK_LIMIT:,} examples; narrow the filter.")
    result = BulkResult(action=action, matched=len(rows), changed=0)
    wanted = BulkAction.APPLIES_TO[action]
    targets: list[tuple[int, str, int]] = []
    for pk, status, author_id, claimed_by_id, findings in rows:
        if wanted is not None and status != wanted:
            result.skipped[pk] = f"is {S(status).label.lower()}"
        elif action in (BulkAction.APPROVE, BulkAction.REJECT) and author_id == user.pk:
            result.skipped[pk] = "is your own example"  # as one at a time: nobody decides on their own work
        elif action == BulkAction.RESET_CLAIMS and claimed_by_id is None:
            result.skipped[pk] = "has no claim"
        elif action == BulkAction.REASSIGN and author_id == new_author_user.pk:
            result.skipped[pk] = "already has that author"
        elif action == BulkAction.APPROVE and blocking_findings(Example(findings=findings)):
            result.skipped[pk] = "has validation errors"
        else:
            targets.append((pk, status, author_id))
    ids = [pk for pk, _, _ in targets]
    if not ids:
        return result
    now = timezone.now()
    if action == BulkAction.REOPEN:
        result.changed = _reopen_rows(ids, actor=user, comment=comment or "bulk reopen", reason="bulk_reopen")
        return result
    if action in (BulkAction.APPROVE, BulkAction.REJECT):
        approve = action == BulkAction.APPROVE
        result.changed = examples_transition_bulk(
            ids=ids,
            from_status=S.SUBMITTED,
            to_status=S.APPROVED if approve else S.REJECTED,
            actor=user,
            reason="bulk_approve" if approve else reason,
            comment=comment or f"bulk {action} by an owner",
            claimed_by=None,
            claim_expires_at=None,
            updated_at=now,
        )
        if approve:
            preference_pairs_record_many(example_ids=ids, approved_by=user)
        if comment and not approve:
            Comment.objects.bulk_create(Comment(example_id=pk, author=user, body=comment) for pk in ids)
        return result
    if action == BulkAction.RESET_CLAIMS:
        updated = Example.objects.filter(pk__in=ids).update(claimed_by=None, claim_expires_at=None)
        audit = [
            Transition(example_id=pk, actor=user, from_status=status, to_status=status, reason="claim_reset")
            for pk, status, _ in targets
        ]
    else:  # reassign
        authors = dict(get_user_model().objects.filter(pk__in={a for _, _, a in targets}).values_list("pk", "username"))
        updated = Example.objects.filter(pk__in=ids).update(author=new_author_user, updated_at=now)
        audit = [
            Transition(
                example_id=pk,
                actor=user,
                from_status=status,
                to_status=status,
                reason="reassign",
                comment=f"author {authors.get(author_id, author_id)} → {new_author_user.username}"
                + (f": {comment}" if comment else ""),
            )
            for pk, status, author_id in targets
        ]
    if updated != len(ids):
        raise ConflictError("Some examples changed meanwhile; nothing was changed. Reload and try again.")
    Transition.objects.bulk_create(audit)
    result.changed = updated
    return result
