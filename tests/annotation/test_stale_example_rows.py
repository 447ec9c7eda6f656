"""Saves and submits that start from an example read before someone else changed it.

The API and pages read the example, then call the service: between the two, the row can change
(its author submits it from another tab, saves a new version). The services must act on the row as
it is now, never on the copy they were handed.
"""

from __future__ import annotations

import pytest

from annotation.models import Example, ExampleStatus
from annotation.services import examples as ex
from annotune.errors import ApplicationError, ConflictError

pytestmark = pytest.mark.django_db


def test_a_save_from_a_stale_copy_never_edits_an_example_submitted_meanwhile(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    stale = Example.objects.get(pk=example.pk)  # the save request read the draft ...
    ex.example_submit(example=Example.objects.get(pk=example.pk), user=annotator)  # ... then it was submitted
    edited = [two_turns[0], {"role": "assistant", "content": "Something the reviewer never saw."}]
    with pytest.raises(ApplicationError):
        ex.example_update(example=stale, user=annotator, version=1, messages=edited)
    row = Example.objects.get(pk=example.pk)
    assert row.status == ExampleStatus.SUBMITTED
    assert row.messages == two_turns
    assert row.version == 1
    assert row.revisions.count() == 1


def test_a_submit_from_a_stale_copy_never_submits_text_it_did_not_check(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    stale = Example.objects.get(pk=example.pk)  # the submit request read version 1 ...
    unfinished = [two_turns[0]]  # ... then a save made version 2, which has no answer yet
    ex.example_update(example=Example.objects.get(pk=example.pk), user=annotator, version=1, messages=unfinished)
    with pytest.raises(ConflictError):
        ex.example_submit(example=stale, user=annotator)
    row = Example.objects.get(pk=example.pk)
    assert row.status == ExampleStatus.DRAFT
    assert row.messages == unfinished
    assert row.review_round == 0
    assert not row.transitions.exists()
    with pytest.raises(ApplicationError, match="assistant turn"):  # read afresh, it is checked as it is
        ex.example_submit(example=row, user=annotator)


def test_a_submit_naming_the_version_it_saw_is_refused_when_a_newer_one_exists(project, annotator, two_turns):
    example = ex.example_create(project=project, author=annotator, messages=two_turns)
    stale = Example.objects.get(pk=example.pk)
    newer = [two_turns[0], {"role": "assistant", "content": "A second answer, saved from another tab."}]
    ex.example_update(example=Example.objects.get(pk=example.pk), user=annotator, version=1, messages=newer)
    with pytest.raises(ConflictError):
        ex.example_submit(example=stale, user=annotator, version=1)
    assert Example.objects.get(pk=example.pk).status == ExampleStatus.DRAFT
