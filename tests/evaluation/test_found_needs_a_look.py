""" "Needs a look", the list "What training found" opens on: the examples the project's checks warned about come
first (a contradicted fact barely moves the loss), then the hardest to learn within their own split (validation
losses are higher across the board: the adapter never saw those examples)."""

from __future__ import annotations

import pytest

from evaluation.selectors import found
from training.services.execution import check_warnings

from .found_helpers import approved_example, make_job, score

pytestmark = pytest.mark.django_db


def test_check_warnings_count_distinct_codes_at_warning_or_error():
    findings = [
        {"code": "fact.contradicted", "severity": "warning"},
        {"code": "style.signoff", "severity": "warning"},
        {"code": "style.signoff", "severity": "warning"},  # the same check twice counts once
        {"code": "fact.unsupported", "severity": "info"},  # information is no warning
        {"code": "fmt.empty_turn", "severity": "error"},
    ]
    assert check_warnings(findings) == 3
    assert check_warnings([]) == 0
    assert check_warnings(None) == 0


def test_warned_examples_first_then_the_hardest_within_their_split(project, owner, annotator, reviewer):
    job = make_job(project, owner)
    examples = [approved_example(project, annotator, reviewer, n) for n in range(8)]
    losses = [1.0, 1.1, 0.9, 1.05, 0.95, 2.5, 1.0, 1.02]  # example 5: the hardest training example by far
    for example, loss in zip(examples, losses, strict=True):
        score(job, example, loss, check_warnings=2 if example is examples[3] else 0)
    held_out = [approved_example(project, annotator, reviewer, 100 + n) for n in range(3)]
    for example, loss in zip(held_out, [3.0, 2.9, 2.95], strict=True):  # unseen: all above any training loss
        score(job, example, loss, split="validation")
    findings = found.job_findings(job)
    order = [row.example_id for row in found.score_queryset(job, findings, found.ScoreFilters(), "attention")]
    assert order[0] == examples[3].pk
    assert set(order[1:3]) == {examples[5].pk, held_out[0].pk}  # each the hardest of its split
    assert order.index(held_out[1].pk) > order.index(examples[5].pk)  # a typical validation loss waits
    assert found.DEFAULT_RANKING == "needs_look"
    listed = found.ranked(job, findings, "needs_look", limit=2)
    assert [row.example.pk for row in listed] == [examples[3].pk, examples[5].pk]


@pytest.mark.parametrize(
    ("rank", "of", "split", "words"),
    [
        (1, 58, "train", "hardest 2 % of the training set"),
        (29, 58, "train", "hardest 50 % of the training set"),
        (58, 58, "train", "easiest 2 % of the training set"),  # not "top 100 %"
        (9, 10, "validation", "easiest 20 % of the validation set"),
        (0, 10, "train", ""),
    ],
)
def test_a_rows_place_in_its_split_reads_as_words(rank, of, split, words):
    from evaluation.models import ExampleScore

    row = found.FoundRow(
        score=ExampleScore(split=split),
        example=None,
        author="",
        reviewer="",
        robust_z=None,
        rank=rank,
        of=of,
        top_percent=found.top_percent(rank, of),
        edited_since=False,
        flag=None,
        outcome="",
        outcome_label="",
    )
    assert row.place == words
