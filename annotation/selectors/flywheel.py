"""The drafting flywheel, measured: does each adapter that drafts answers save the team work?

Per drafter (an adapter, or the base model), from the drafts kept with the project's examples:

- `kept`: drafts kept with an example (every "Draft answer" whose text the annotator saved);
- `judged`: the latest draft of a turn in an example approved now, whose question still stands: the
  drafts an approval has judged (`ExampleDraft.approved_outcome`, written with the approval);
- `unchanged_share`: the share of those approved as the model wrote them (line endings and surrounding
  space aside);
- `median_distance`: the median edit distance from draft to approved answer (Levenshtein on characters
  over the longer length, estimated where more than 10,000 characters per side differ; 0 for an unchanged
  draft): how much of the text people rewrote;
- `median_to_submit`: the median time from asking for the draft to the example's latest submission. It
  measures the annotator's time from draft to "submit" (reading, correcting, and any pause), for drafts
  whose example has been submitted since; a resubmitted example counts to its last submission.

Figures on fewer than `TRUSTED_DRAFTS` judged drafts are shown with a note that they cannot be trusted yet.
The figures are aggregates over stored outcomes: no text is read or compared on the dashboard.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Q

from ..models import DraftOutcome, ExampleDraft, ExampleStatus, Project

TRUSTED_DRAFTS = 20  # below this many judged drafts, a share or a median says little


@dataclass(frozen=True)
class DrafterFigures:
    """One drafter's row of the table (`name`: the adapter's name, or "Base model")."""

    name: str
    kept: int
    judged: int
    unchanged: int
    median_distance: float | None
    median_to_submit: timedelta | None
    timed: int  # drafts whose example was submitted after the draft: the median time's sample

    @property
    def unchanged_share(self) -> float | None:
        return self.unchanged / self.judged if self.judged else None

    @property
    def trusted(self) -> bool:
        return self.judged >= TRUSTED_DRAFTS

    @property
    def to_submit_words(self) -> str:
        """The median time to submit in words ("40 s", "3 min", "1.5 h", "2.0 days"); "" without one."""
        if self.median_to_submit is None:
            return ""
        seconds = self.median_to_submit.total_seconds()
        if seconds < 90:
            return f"{seconds:.0f} s"
        if seconds < 90 * 60:
            return f"{seconds / 60:.0f} min"
        if seconds < 36 * 3600:
            return f"{seconds / 3600:.1f} h"
        return f"{seconds / 86400:.1f} days"


def drafting_flywheel(project: Project) -> list[DrafterFigures]:
    """One row per drafter that drafted in the project, most drafts kept first (three queries)."""
    drafts = ExampleDraft.objects.filter(example__project=project)
    judged_filter = Q(
        example__status=ExampleStatus.APPROVED, approved_outcome__in=[DraftOutcome.UNCHANGED, DraftOutcome.EDITED]
    )
    counts = (
        drafts.values("adapter_name")
        .annotate(
            kept=Count("id"),
            judged=Count("id", filter=judged_filter),
            unchanged=Count("id", filter=judged_filter & Q(approved_outcome=DraftOutcome.UNCHANGED)),
        )
        .order_by("-kept", "adapter_name")
    )
    distances: dict[str, list[float]] = {}
    for name, distance in drafts.filter(judged_filter, approved_distance__isnull=False).values_list(
        "adapter_name", "approved_distance"
    ):
        distances.setdefault(name, []).append(distance)
    waits: dict[str, list[timedelta]] = {}
    submitted = drafts.filter(example__submitted_at__gte=F("requested_at"))
    for name, asked, sent in submitted.values_list("adapter_name", "requested_at", "example__submitted_at"):
        waits.setdefault(name, []).append(sent - asked)
    return [
        DrafterFigures(
            name=row["adapter_name"],
            kept=row["kept"],
            judged=row["judged"],
            unchanged=row["unchanged"],
            median_distance=statistics.median(distances[row["adapter_name"]])
            if distances.get(row["adapter_name"])
            else None,
            median_to_submit=median_time(waits.get(row["adapter_name"], [])),
            timed=len(waits.get(row["adapter_name"], [])),
        )
        for row in counts
    ]


def median_time(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
