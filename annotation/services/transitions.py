"""The example state machine: the only place a status changes, each change audited."""

from __future__ import annotations

from collections.abc import Mapping

from annotune.errors import ApplicationError

from ..models import Example, ExampleStatus, Transition

S = ExampleStatus

# draft → submitted → approved | rejected | changes_requested; changes_requested → draft when the
# author edits; rejected → draft when the author reworks it; approved → submitted only by an owner's
# explicit reopen or a reviewer's send-back from training's findings (enforced by those services).
ALLOWED: dict[str, set[str]] = {
    S.DRAFT: {S.SUBMITTED},
    S.SUBMITTED: {S.APPROVED, S.REJECTED, S.CHANGES_REQUESTED},
    S.CHANGES_REQUESTED: {S.DRAFT},
    S.REJECTED: {S.DRAFT},
    S.APPROVED: {S.SUBMITTED},
}


def is_allowed(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED.get(from_status, set())


def example_transition(
    *, example: Example, to_status: str, actor, reason: str = "", comment: str = "", **fields
) -> Transition:
    """Move `example` (a row locked or freshly read inside the caller's transaction) to `to_status`.

    Status is written through a conditional update so two racing transitions of the same example
    cannot both win. `fields` are other columns set in the same UPDATE (e.g. releasing a claim);
    the caller saves anything else.
    """
    from_status = example.status
    if not is_allowed(from_status, to_status):
        raise ApplicationError(
            f"An example cannot go from {S(from_status).label.lower()} to {S(to_status).label.lower()}.",
            {"status": [f"Allowed from {from_status}: {sorted(ALLOWED.get(from_status, set())) or 'nothing'}."]},
        )
    updated = Example.objects.filter(pk=example.pk, status=from_status).update(status=to_status, **fields)
    if updated != 1:
        raise ApplicationError("The example's status changed meanwhile; reload and try again.")
    example.status = to_status
    for name, value in fields.items():
        setattr(example, name, value)
    return Transition.objects.create(
        example=example, actor=actor, from_status=from_status, to_status=to_status, reason=reason, comment=comment
    )


def examples_transition_bulk(
    *,
    ids: list[int],
    from_status: str,
    to_status: str,
    actor,
    reason: str = "",
    comment: str = "",
    comments: Mapping[int, str] | None = None,
    **fields,
) -> int:
    """Move many examples (rows the caller locked) from one status to another, one audit row each.

    `fields` are other columns set in the same UPDATE (claim reset, review round, ...); `comments`
    gives an example its own audit comment (others get `comment`). Refused as a whole if any row is
    no longer in `from_status`: the caller's transaction then rolls back.
    """
    if not is_allowed(from_status, to_status):
        raise ApplicationError(
            f"Examples cannot go from {S(from_status).label.lower()} to {S(to_status).label.lower()}."
        )
    if not ids:
        return 0
    updated = Example.objects.filter(pk__in=ids, status=from_status).update(status=to_status, **fields)
    if updated != len(ids):
        raise ApplicationError("Some examples changed status meanwhile; nothing was changed. Reload and try again.")
    Transition.objects.bulk_create(
        Transition(
            example_id=pk,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            comment=(comments or {}).get(pk, comment),
        )
        for pk in ids
    )
    return updated
