"""Send back for review: a training job's per-example loss returns examples to the review queue.

One call sends one example or a selection. Each example sent back gets, in one transaction: the
status change (approved → submitted, a new review round; a submitted example stays in its round),
an audit `Transition` (reason `training_flag`, actor: who sent it, comment: the evidence), the same
text in its comment thread (its author reads it on My work) and a `ReviewFlag` with the figures.
The queue then offers it before the other submitted examples (`Example.flagged_round`).

The figures come from the caller (the training app's scores for the job): this module knows
nothing of how a loss is computed, only what evidence looks like (`FlagEvidence`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotune.errors import ApplicationError, ConflictError

from .. import permissions
from ..models import Comment, Example, ExampleStatus, Project, ReviewFlag, Revision, Transition
from .reviews import clean_comment
from .transitions import examples_transition_bulk

S = ExampleStatus
FLAG_REASON = "training_flag"
MAX_SEND_BACK = 500

# The lists of the "what training found" page an example can be sent from (shown in the audit).
RANKINGS = {
    "needs_look": "needs a look",
    "hardest": "hardest to learn",
    "learned": "learned most",
    "outliers": "outlier in its category",
    "": "",
}
SPLIT_NAMES = {"train": "training set", "validation": "validation set"}


class FlagEvidence(TypedDict):
    """Why training sent an example back: its scores in the job, and where they rank.

    Built by the training app from the job's `ExampleScore` rows; stored on `ReviewFlag.evidence`
    and read back by the review screen, My work and the found page through `flag_evidence()`.
    """

    split: str  # "train" | "validation"
    category: str
    adapter_loss: float | None
    base_loss: float | None
    loss_drop: float | None  # base − adapter
    rank: int  # by adapter loss within its split, 1 = highest
    of: int  # scored examples in that split
    robust_z: float | None  # (loss − category median) / (1.4826 × MAD), within its category


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def flag_evidence(raw: Any) -> FlagEvidence:
    """Stored evidence as a `FlagEvidence` (missing or malformed values become None / 0 / "")."""
    raw = raw if isinstance(raw, Mapping) else {}
    rank, of = raw.get("rank"), raw.get("of")
    return {
        "split": str(raw.get("split") or ""),
        "category": str(raw.get("category") or ""),
        "adapter_loss": _number(raw.get("adapter_loss")),
        "base_loss": _number(raw.get("base_loss")),
        "loss_drop": _number(raw.get("loss_drop")),
        "rank": rank if isinstance(rank, int) and not isinstance(rank, bool) else 0,
        "of": of if isinstance(of, int) and not isinstance(of, bool) else 0,
        "robust_z": _number(raw.get("robust_z")),
    }


def top_percent(rank: int, of: int) -> int:
    """1 ≤ result ≤ 100: the share of the split at or above this rank, rounded up."""
    return max(1, min(100, math.ceil(100 * rank / of))) if of and rank else 100


def flag_comment(*, job_id: int, evidence: FlagEvidence, ranking: str = "", note: str = "") -> str:
    """'Flagged by training job #12: loss 4.1, top 2 % of the training set' (+ outlier, list, note)."""
    where = SPLIT_NAMES.get(evidence["split"], "scored examples")
    loss = evidence["adapter_loss"]
    parts = [f"loss {loss:.1f}" if loss is not None else "no loss (every answer token was truncated)"]
    if evidence["of"] and evidence["rank"]:
        share = top_percent(evidence["rank"], evidence["of"])
        if share <= 50:
            parts.append(f"top {share} % of the {where}")
        else:
            parts.append(f"rank {evidence['rank']} of {evidence['of']} in the {where}")
    if evidence["robust_z"] is not None and abs(evidence["robust_z"]) >= 2:
        side = "above" if evidence["robust_z"] > 0 else "below"
        category = evidence["category"] or "(no category)"
        parts.append(f"{abs(evidence['robust_z']):.1f} robust SD {side} the median of {category}")
    text = f"Flagged by training job #{job_id}: " + ", ".join(parts)
    if RANKINGS.get(ranking):
        text += f" (list: {RANKINGS[ranking]})"
    text += "."
    if note:
        text += f"\n{note}"
    return text


# -- the write ------------------------------------------------------------------------------------


@dataclass
class SendBackResult:
    sent: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    def summary(self) -> str:
        """'2 examples sent back to review; 1 skipped: #7 was deleted.' (for the page's flash)."""
        n = len(self.sent)
        text = f"{n} example{'s' if n != 1 else ''} sent back to review" if n else "Nothing was sent back"
        if self.skipped:
            reasons = "; ".join(f"#{pk} {why}" for pk, why in list(self.skipped.items())[:5])
            more = f" (and {len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
            text += f"; {len(self.skipped)} skipped: {reasons}{more}"
        return text + "."


def _clean_ids(example_ids: Any) -> list[int]:
    if not isinstance(example_ids, list | tuple) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in example_ids
    ):
        raise ApplicationError("example_ids must be a list of example ids.", {"example_ids": ["Send whole numbers."]})
    ids = list(dict.fromkeys(i for i in example_ids))
    if not ids:
        raise ApplicationError("Choose at least one example to send back.", {"example_ids": ["Select examples."]})
    if len(ids) > MAX_SEND_BACK:
        raise ApplicationError(
            f"{len(ids):,} examples selected; send back at most {MAX_SEND_BACK} at a time.",
            {"example_ids": [f"At most {MAX_SEND_BACK}."]},
        )
    if any(not 0 < i < 2**63 for i in ids):
        raise ApplicationError("Example ids are positive whole numbers.", {"example_ids": ["Out of range."]})
    return ids


@transaction.atomic
def examples_send_back(
    *,
    project: Project,
    user,
    job_id: int,
    example_ids: Any,
    evidence: Mapping[int, FlagEvidence],
    data_time: datetime | None,
    ranking: str = "",
    note: Any = "",
) -> SendBackResult:
    """Return examples scored by job `job_id` to review with their evidence; skip (with the reason)
    the ones that cannot go: deleted, not scored by this job, edited since the job's data was taken
    (`data_time`: the loss describes old text), with their author, or already sent back by this job.

    Reviewers and owners only. Rows are locked in id order; a row that changed status between the
    read and the write refuses the whole call (409), so nothing is half done.
    """
    permissions.require(
        permissions.can_review(user, project), "Only reviewers and owners can send examples back to review."
    )
    ids = _clean_ids(example_ids)
    if ranking not in RANKINGS:
        raise ApplicationError(f"Unknown list {ranking!r}.", {"ranking": [f"One of: {', '.join(RANKINGS)}."]})
    note = clean_comment(note, required=False, what="note")
    rows = {
        pk: (status, version, review_round)
        for pk, status, version, review_round in Example.objects.filter(project=project, pk__in=ids)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", "status", "version", "review_round")
    }
    already = dict(
        ReviewFlag.objects.filter(job_id=job_id, example_number__in=ids)
        .order_by("example_number", "-id")
        .values_list("example_number", "created_at")
    )
    edited: set[int] = set()
    if data_time is not None:
        edited = set(
            Revision.objects.filter(example_id__in=list(rows), created_at__gt=data_time).values_list(
                "example_id", flat=True
            )
        )
    result = SendBackResult()
    reopen: list[int] = []
    requeue: list[int] = []
    for pk in ids:
        if pk not in rows:
            result.skipped[pk] = "was deleted (or is not in this project)"
            continue
        status, version, _round = rows[pk]
        if pk not in evidence:
            result.skipped[pk] = f"has no loss score in job #{job_id}"
        elif pk in already:
            result.skipped[pk] = f"was already sent back by job #{job_id} on {already[pk]:%Y-%m-%d}"
        elif pk in edited:
            result.skipped[pk] = (
                f"was edited after job #{job_id} took its data (now version {version}): its loss describes the old text"
            )
        elif status == S.APPROVED:
            reopen.append(pk)
        elif status == S.SUBMITTED:
            requeue.append(pk)
        else:
            result.skipped[pk] = f"is {S(status).label.lower()}: it is with its author, not in the data"
    if not reopen and not requeue:
        return result
    comments = {
        pk: flag_comment(job_id=job_id, evidence=evidence[pk], ranking=ranking, note=note) for pk in reopen + requeue
    }
    now = timezone.now()
    if reopen:
        # One UPDATE: a new review round, flagged in that round (SET reads the old review_round).
        examples_transition_bulk(
            ids=reopen,
            from_status=S.APPROVED,
            to_status=S.SUBMITTED,
            actor=user,
            reason=FLAG_REASON,
            comments=comments,
            review_round=F("review_round") + 1,
            flagged_round=F("review_round") + 1,
            submitted_at=now,
            claimed_by=None,
            claim_expires_at=None,
            updated_at=now,
        )
    if requeue:
        # Already waiting for review: it stays in its round (and with its claim), now taken first.
        updated = Example.objects.filter(pk__in=requeue, status=S.SUBMITTED).update(
            flagged_round=F("review_round"), updated_at=now
        )
        if updated != len(requeue):
            raise ConflictError("Some examples changed status meanwhile; nothing was sent back. Reload and try again.")
        Transition.objects.bulk_create(
            Transition(
                example_id=pk,
                actor=user,
                from_status=S.SUBMITTED,
                to_status=S.SUBMITTED,
                reason=FLAG_REASON,
                comment=comments[pk],
            )
            for pk in requeue
        )
    sent = sorted(reopen + requeue)
    ReviewFlag.objects.bulk_create(
        ReviewFlag(
            project=project,
            example_id=pk,
            example_number=pk,
            job_id=job_id,
            sent_by=user,
            ranking=ranking,
            comment=comments[pk],
            evidence=dict(evidence[pk]),
            from_status=rows[pk][0],
            example_version=rows[pk][1],
            round=rows[pk][2] + 1 if pk in reopen else rows[pk][2],
        )
        for pk in sent
    )
    Comment.objects.bulk_create(Comment(example_id=pk, author=user, body=comments[pk]) for pk in sent)
    result.sent = sent
    return result
