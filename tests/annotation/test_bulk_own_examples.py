"""Owners' bulk approve and reject are review decisions: like one at a time, never on their own examples."""

from __future__ import annotations

import pytest

from annotation.models import Example, ExampleStatus, Transition
from annotation.services import examples as ex
from annotation.services import reviews as rv
from tests.factories import conversation

pytestmark = pytest.mark.django_db
S = ExampleStatus


def _submitted(project, author, n):
    return ex.example_create(project=project, author=author, messages=conversation(n), submit=True)


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_bulk_decisions_skip_the_owners_own_examples(project, owner, annotator, action):
    own = _submitted(project, owner, 1)
    other = _submitted(project, annotator, 2)
    result = rv.examples_bulk(
        project=project,
        user=owner,
        action=action,
        examples=rv.bulk_selection(project=project, example_ids=[own.pk, other.pk]),
        reason="style",
    )
    assert (result.matched, result.changed) == (2, 1)
    assert result.skipped == {own.pk: "is your own example"}
    assert Example.objects.get(pk=own.pk).status == S.SUBMITTED
    assert Example.objects.get(pk=other.pk).status == (S.APPROVED if action == "approve" else S.REJECTED)
    assert not Transition.objects.filter(example=own, to_status__in=[S.APPROVED, S.REJECTED]).exists()
