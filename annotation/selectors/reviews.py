"""Reads for the review workflow: the queue, "my work", the project dashboard and agreement statistics.

Kept apart from `examples.py` (list and detail reads) so each module stays one subject. Every
function issues a fixed number of queries, whatever the number of rows; the agreement statistics,
the only heavier aggregate, are cached until the project's reviews change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet

from ..models import Comment, Example, ExampleStatus, Membership, Project, Review, ReviewDecision, ReviewFlag
from .flags import flag_outcome, outcome_detail

S = ExampleStatus
RETURNED_STATUSES = (S.CHANGES_REQUESTED, S.REJECTED)
# Counting what a reviewer could take stops here: "1000+" is as useful as an exact figure.
QUEUE_COUNT_CAP = 1000


def reviewed_in_current_round(reviewer) -> Exists:
    return Exists(Review.objects.filter(example=OuterRef("pk"), reviewer=reviewer, round=OuterRef("review_round")))


def queue_candidates(
    project: Project, reviewer, *, now: datetime, category: str | None = None, author_id: int | None = None
) -> QuerySet[Example]:
    """Submitted examples `reviewer` may take now, oldest (lowest id) first.

    Not written by them, not reviewed by them in this submission round, and not held by someone
    else's live claim. The partial index `example_review_queue` serves the scan.
    """
    qs = (
        Example.objects.filter(project=project, status=S.SUBMITTED)
        .exclude(author=reviewer)
        .filter(Q(claimed_by__isnull=True) | Q(claim_expires_at__lt=now) | Q(claimed_by=reviewer))
        .filter(~reviewed_in_current_round(reviewer))
    )
    if category:
        qs = qs.filter(category=category)
    if author_id is not None:
        qs = qs.filter(author_id=author_id)
    return qs.order_by("pk")


# "next" runs these two on every call; as plain SQL (standard, for PostgreSQL and SQLite alike) they
# cost a third of the CPU of their ORM form.


def claimed_ids(project: Project, reviewer, *, limit: int = 50) -> list[int]:
    """Ids of the examples the reviewer holds a claim on (live or expired)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM annotation_example WHERE project_id = %s AND claimed_by_id = %s LIMIT %s",
            [project.pk, reviewer.pk, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def queue_batch_ids(
    project: Project,
    *,
    limit: int,
    category: str | None = None,
    author_id: int | None = None,
    after: int | None = None,
    until: int | None = None,
    descending: bool = False,
    flagged: bool = False,
) -> list[int]:
    """The next `limit` ids of the submitted examples (with the queue filters) in queue order.

    Only the queue's own conditions, which the partial indexes `example_review_queue*` answer:
    `after` excludes ids up to it (in the walking direction), `until` stops at it, inclusive.
    `flagged`: only the examples training sent back in their current round (the queue's head;
    the partial index `example_review_queue_flagged` holds just those rows).
    """
    sql = "SELECT id FROM annotation_example WHERE project_id = %s AND status = %s"
    params: list = [project.pk, S.SUBMITTED]
    if flagged:
        sql += " AND flagged_round IS NOT NULL AND flagged_round = review_round"
    if category:
        sql, params = sql + " AND category = %s", [*params, category]
    if author_id is not None:
        sql, params = sql + " AND author_id = %s", [*params, author_id]
    if after is not None:
        sql, params = sql + (" AND id < %s" if descending else " AND id > %s"), [*params, after]
    if until is not None:
        sql, params = sql + (" AND id >= %s" if descending else " AND id <= %s"), [*params, until]
    sql += (" ORDER BY id DESC" if descending else " ORDER BY id") + " LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [row[0] for row in cursor.fetchall()]


def project_member_id(project: Project, username: str | None) -> int | None:
    """The user id of a project member by username; -1 (matches nothing) for a non-member."""
    if not username:
        return None
    found = Membership.objects.filter(project=project, user__username=username).values_list("user_id", flat=True)
    return found.first() or -1


@dataclass(frozen=True)
class QueueCounts:
    submitted: int
    available: int
    available_capped: bool
    claimed_by_others: int


def review_queue_counts(project: Project, reviewer, *, now: datetime) -> QueueCounts:
    base = Example.objects.filter(project=project, status=S.SUBMITTED)
    submitted = base.count()
    claimed = base.filter(claim_expires_at__gte=now).exclude(claimed_by=reviewer).count()
    # No ORDER BY: any index may answer a count (an ordered scan could walk the reviewed head).
    available = queue_candidates(project, reviewer, now=now).order_by()[: QUEUE_COUNT_CAP + 1].count()
    return QueueCounts(
        submitted=submitted,
        available=min(available, QUEUE_COUNT_CAP),
        available_capped=available > QUEUE_COUNT_CAP,
        claimed_by_others=claimed,
    )


def example_comments(example: Example) -> QuerySet[Comment]:
    return Comment.objects.filter(example=example).select_related("author", "review").order_by("id")


def example_reviews(example: Example) -> QuerySet[Review]:
    return Review.objects.filter(example=example).select_related("reviewer").order_by("-id")


def my_returned_examples(project: Project, user, *, limit: int = 200) -> list[Example]:
    """The user's examples sent back to them, newest change first, with their comments and reviews."""
    return list(
        Example.objects.filter(project=project, author=user, status__in=RETURNED_STATUSES)
        .defer("search_text")
        .prefetch_related(
            Prefetch("comments", queryset=Comment.objects.select_related("author").order_by("id"), to_attr="thread"),
            Prefetch(
                "reviews",
                queryset=Review.objects.exclude(decision=ReviewDecision.APPROVE)
                .select_related("reviewer")
                .order_by("-id"),
                to_attr="returns",
            ),
        )
        .order_by("-updated_at", "-id")[:limit]
    )


def example_flags(example: Example) -> list[ReviewFlag]:
    """Training's send-backs of the example in its current review round: the evidence for the reviewer."""
    return list(
        ReviewFlag.objects.filter(example=example, round=example.review_round).select_related("sent_by").order_by("-id")
    )


@dataclass(frozen=True)
class MyFlag:
    flag: ReviewFlag
    outcome: str
    detail: str


def my_flagged_examples(project: Project, user, *, limit: int = 50) -> list[MyFlag]:
    """Training's send-backs of the user's examples, newest first, with what happened since."""
    flags = (
        ReviewFlag.objects.filter(project=project, example__author=user)
        .select_related("example", "sent_by")
        .defer("example__search_text", "example__messages", "example__findings")
        .order_by("-id")[:limit]
    )
    return [MyFlag(f, flag_outcome(f, f.example), outcome_detail(f, f.example)) for f in flags]


def my_status_counts(project: Project, user) -> dict[str, int]:
    rows = Example.objects.filter(project=project, author=user).values("status").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys(S.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


@dataclass
class MemberStats:
    username: str
    role: str
    statuses: dict[str, int]
    written: int = 0
    reviews: dict[str, int] = field(default_factory=dict)
    reviewed: int = 0


@dataclass
class Dashboard:
    status_counts: dict[str, int]
    total: int
    members: list[MemberStats]
    reasons: list[tuple[str, int]]

    @property
    def approved_percent(self) -> float:
        return 100 * self.status_counts.get(S.APPROVED, 0) / self.total if self.total else 0.0

    @property
    def segments(self) -> list[tuple[str, str, int, float]]:
        """(status, label, count, percent) for the stacked progress bar."""
        order = [S.APPROVED, S.SUBMITTED, S.CHANGES_REQUESTED, S.REJECTED, S.DRAFT]
        return [
            (s.value, s.label, self.status_counts.get(s, 0), 100 * self.status_counts.get(s, 0) / self.total)
            for s in order
            if self.total and self.status_counts.get(s, 0)
        ]


def reasons_histogram(project: Project) -> list[tuple[str, int]]:
    """Reject reasons of reviewers' decisions, most frequent first."""
    rows = (
        Review.objects.filter(project=project, decision=ReviewDecision.REJECT)
        .values("reason")
        .annotate(n=Count("id"))
        .order_by("-n", "reason")
    )
    return [(row["reason"] or "(none)", row["n"]) for row in rows]


def project_dashboard(project: Project) -> Dashboard:
    """Counts per status and per member, reject reasons: four grouped aggregates."""
    members = {
        m.user_id: MemberStats(username=m.user.username, role=m.role, statuses=dict.fromkeys(S.values, 0))
        for m in Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    }
    status_counts = dict.fromkeys(S.values, 0)
    for row in Example.objects.filter(project=project).values("author_id", "status").annotate(n=Count("id")).order_by():
        status_counts[row["status"]] += row["n"]
        member = members.get(row["author_id"])
        if member is not None:
            member.statuses[row["status"]] += row["n"]
            member.written += row["n"]
    decisions = Review.objects.filter(project=project).values("reviewer_id", "decision").annotate(n=Count("id"))
    for row in decisions.order_by():
        member = members.get(row["reviewer_id"])
        if member is not None:
            member.reviews[row["decision"]] = row["n"]
            member.reviewed += row["n"]
    return Dashboard(
        status_counts=status_counts,
        total=sum(status_counts.values()),
        members=list(members.values()),
        reasons=reasons_histogram(project),
    )


@dataclass(frozen=True)
class PairAgreement:
    reviewer_a: str
    reviewer_b: str
    both_reviewed: int
    agreed: int

    @property
    def rate(self) -> float:
        return self.agreed / self.both_reviewed if self.both_reviewed else 0.0


@dataclass(frozen=True)
class Acceptance:
    annotator: str
    decisions: int
    approvals: int

    @property
    def rate(self) -> float:
        return self.approvals / self.decisions if self.decisions else 0.0


@dataclass(frozen=True)
class Agreement:
    pairs: list[PairAgreement]
    acceptance: list[Acceptance]
    reasons: list[tuple[str, int]]
    reviews: int

    @property
    def overall_rate(self) -> float | None:
        both = sum(p.both_reviewed for p in self.pairs)
        return sum(p.agreed for p in self.pairs) / both if both else None


def _pair_rows(project: Project) -> list[tuple[int, int, int, int]]:
    """Pairs of reviewers who decided on the same submission round, and how often they agreed.

    One grouped self-join (the ORM has no way to join a model to itself without a relation).
    """
    table = connection.ops.quote_name(Review._meta.db_table)
    sql = (
        f"SELECT a.reviewer_id, b.reviewer_id, COUNT(*), "  # noqa: S608 - table name from the model, values bound
        f"SUM(CASE WHEN a.decision = b.decision THEN 1 ELSE 0 END) "
        f"FROM {table} a JOIN {table} b "
        f"ON a.example_id = b.example_id AND a.round = b.round AND a.reviewer_id < b.reviewer_id "
        f"WHERE a.project_id = %s AND b.project_id = %s "
        f"GROUP BY a.reviewer_id, b.reviewer_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, project.pk])
        return [(a, b, int(n), int(agreed or 0)) for a, b, n, agreed in cursor.fetchall()]


def _compute_agreement(project: Project, reviews: int) -> Agreement:
    rows = _pair_rows(project)
    user_ids = {uid for row in rows for uid in row[:2]}
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username")) if user_ids else {}
    pairs = sorted(
        (PairAgreement(names.get(a, str(a)), names.get(b, str(b)), n, agreed) for a, b, n, agreed in rows),
        key=lambda p: (p.reviewer_a, p.reviewer_b),
    )
    acceptance = [
        Acceptance(annotator=row["example__author__username"], decisions=row["n"], approvals=row["approved"])
        for row in Review.objects.filter(project=project)
        .values("example__author__username")
        .annotate(n=Count("id"), approved=Count("id", filter=Q(decision=ReviewDecision.APPROVE)))
        .order_by("example__author__username")
    ]
    return Agreement(pairs=pairs, acceptance=acceptance, reasons=reasons_histogram(project), reviews=reviews)


def review_agreement(project: Project) -> Agreement:
    """Agreement statistics, recomputed only when the project's reviews changed (one cheap aggregate)."""
    marker = Review.objects.filter(project=project).aggregate(last=Max("id"), n=Count("id"))
    key = f"annotune:review-agreement:{project.pk}:{marker['last']}:{marker['n']}"
    agreement = cache.get(key)
    if agreement is None:
        agreement = _compute_agreement(project, marker["n"])
        cache.set(key, agreement, timeout=3600)
    return agreement


def bulk_preview(qs: QuerySet[Example], *, limit: int = 50) -> tuple[int, list[Example]]:
    """How many examples a bulk action would touch, and the first few of them."""
    return qs.count(), list(qs.select_related("author")[:limit])
