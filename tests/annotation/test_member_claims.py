"""A reviewer who loses the right to review (demoted to annotator, removed) lets go of their queue claims:
the examples they held go to the other reviewers at once, not when the claim expires."""

from __future__ import annotations

import pytest

from annotation.models import Example, Membership, Role
from annotation.services import examples as ex
from annotation.services import projects as pj
from annotation.services import reviews as rv
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("change", ["demote", "remove"])
def test_losing_the_reviewer_role_releases_the_claim(project, owner, reviewer, annotator, change):
    example = ex.example_create(project=project, author=annotator, messages=conversation(1), submit=True)
    assert rv.review_queue_next(project=project, reviewer=reviewer).pk == example.pk
    other = UserFactory(username="second-reviewer")
    Membership.objects.create(project=project, user=other, role=Role.REVIEWER)
    assert rv.review_queue_next(project=project, reviewer=other) is None  # held by the first reviewer
    membership = Membership.objects.select_related("project").get(project=project, user=reviewer)
    if change == "demote":
        pj.member_set_role(membership=membership, actor=owner, role=Role.ANNOTATOR)
    else:
        pj.member_remove(membership=membership, actor=owner)
    row = Example.objects.get(pk=example.pk)
    assert (row.claimed_by_id, row.claim_expires_at) == (None, None)
    assert rv.review_queue_next(project=project, reviewer=other).pk == example.pk


def test_a_reviewer_made_owner_keeps_the_claim(project, owner, reviewer, annotator):
    example = ex.example_create(project=project, author=annotator, messages=conversation(1), submit=True)
    rv.review_queue_next(project=project, reviewer=reviewer)
    membership = Membership.objects.select_related("project").get(project=project, user=reviewer)
    pj.member_set_role(membership=membership, actor=owner, role=Role.OWNER)
    assert Example.objects.get(pk=example.pk).claimed_by_id == reviewer.pk


def test_a_held_claim_taken_over_at_its_expiry_is_not_extended_for_both(project, reviewer, annotator, monkeypatch):
    """The reviewer's live claim expires between the read of it and its extension, and another reviewer
    takes the example in that moment: the first reviewer moves on instead of being shown it too."""
    first = ex.example_create(project=project, author=annotator, messages=conversation(1), submit=True)
    second = ex.example_create(project=project, author=annotator, messages=conversation(2), submit=True)
    assert rv.review_queue_next(project=project, reviewer=reviewer).pk == first.pk
    other = UserFactory(username="second-reviewer")
    Membership.objects.create(project=project, user=other, role=Role.REVIEWER)
    ttl = rv.claim_ttl

    def taken_meanwhile():  # runs between the read of the held claim and its extension
        Example.objects.filter(pk=first.pk).update(claimed_by=other)
        return ttl()

    monkeypatch.setattr(rv, "claim_ttl", taken_meanwhile)
    shown = rv.review_queue_next(project=project, reviewer=reviewer)
    assert shown is not None
    assert shown.pk == second.pk
    assert Example.objects.get(pk=first.pk).claimed_by_id == other.pk
