"""What happened to an example training sent back to review: fixed, confirmed, removed or pending."""

from __future__ import annotations

from ..models import Example, ExampleStatus, ReviewFlag

S = ExampleStatus

OUTCOMES = {
    "pending": "Pending review",
    "fixed": "Fixed (edited, then approved)",
    "confirmed": "Confirmed as correct (approved unchanged)",
    "removed": "Removed",
}


def flag_outcome(flag: ReviewFlag, example: Example | None) -> str:
    """What happened to a flagged example since: fixed, confirmed, removed or pending.

    `example` is the flag's example as it is now (None: deleted). Approved in the flag's round or a
    later one: fixed when its version moved past the flagged one, confirmed otherwise. Rejected:
    removed from the data. Anything else still waits for a reviewer or its author.
    """
    if example is None:
        return "removed"
    if example.status == S.REJECTED:
        return "removed"
    if example.status == S.APPROVED and example.review_round >= flag.round:
        return "fixed" if example.version > flag.example_version else "confirmed"
    return "pending"


def outcome_detail(flag: ReviewFlag, example: Example | None) -> str:
    """One line for the page: the outcome with what makes it so."""
    outcome = flag_outcome(flag, example)
    if example is None:
        return "Removed: the example was deleted."
    if outcome == "removed":
        return "Removed: rejected in review."
    if outcome == "fixed":
        return f"Fixed: edited (version {flag.example_version} → {example.version}), then approved."
    if outcome == "confirmed":
        return "Confirmed as correct: approved unchanged."
    return f"Pending: {example.get_status_display().lower()}."
