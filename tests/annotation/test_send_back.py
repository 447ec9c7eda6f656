"""Send back for review: state transitions, queue order, audit, permissions, examples changed meanwhile."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from annotation.models import Comment, Example, ExampleStatus, ReviewFlag, Transition
from annotation.services import examples as example_services
from annotation.services import flags
from annotation.services import reviews as review_services
from annotune.errors import ApplicationError
from evaluation.selectors import found
from tests.evaluation.found_helpers import approved_example, make_job, scored_set
from tests.factories import ExampleFactory, conversation

pytestmark = pytest.mark.django_db
S = ExampleStatus


def send(job, user, ids, **kw):
    findings = found.job_findings(job)
    return flags.examples_send_back(
        project=job.project,
        user=user,
        job_id=job.pk,
        example_ids=ids,
        evidence=found.evidence_for(job, findings, ids),
        data_time=found.data_time(job),
        **kw,
    )


@pytest.fixture
def job(project, owner):
    return make_job(project, owner)


@pytest.fixture
def examples(project, job, annotator, reviewer):
    # 50 training examples: the hardest (4.1) is the top 2 %.
    losses = [4.1] + [1.0 + i / 100 for i in range(49)]
    return scored_set(project, job, annotator, reviewer, losses)


def test_an_approved_example_goes_back_to_review_with_the_evidence_and_an_audit_trail(job, examples, owner):
    hardest = examples[0]
    result = send(job, owner, [hardest.pk], ranking="hardest", note="Check the <b>amount</b>.")
    assert result.sent == [hardest.pk]
    assert result.skipped == {}
    hardest.refresh_from_db()
    assert hardest.status == S.SUBMITTED
    assert hardest.review_round == 2
    assert hardest.flagged_round == 2
    expected = f"Flagged by training job #{job.pk}: loss 4.1, top 2 % of the training set"
    audit = Transition.objects.get(example=hardest, reason=flags.FLAG_REASON)
    assert (audit.from_status, audit.to_status, audit.actor) == (S.APPROVED, S.SUBMITTED, owner)
    assert audit.comment.startswith(expected)
    assert "(list: hardest to learn)" in audit.comment
    assert audit.comment.endswith("Check the <b>amount</b>.")
    comment = Comment.objects.get(example=hardest)
    assert comment.author == owner
    assert comment.body == audit.comment
    flag = ReviewFlag.objects.get(example=hardest)
    assert (flag.job, flag.sent_by, flag.round, flag.example_version, flag.from_status) == (
        job,
        owner,
        2,
        1,
        S.APPROVED,
    )
    assert flag.evidence["rank"] == 1
    assert flag.evidence["of"] == 50
    assert flag.evidence["adapter_loss"] == 4.1


def test_flagged_examples_come_first_in_the_reviewers_queue(project, job, examples, owner, reviewer, annotator2):
    older = [
        ExampleFactory(project=project, author=annotator2, messages=conversation(500 + i), status=S.SUBMITTED)
        for i in range(3)
    ]
    send(job, owner, [examples[5].pk, examples[0].pk])
    first = review_services.review_queue_next(project=project, reviewer=reviewer)
    assert first.pk == examples[0].pk  # flagged, the oldest of the flagged first
    review_services.review_approve(example=first, reviewer=reviewer)
    second = review_services.review_queue_next(project=project, reviewer=reviewer)
    assert second.pk == examples[5].pk
    review_services.review_approve(example=second, reviewer=reviewer)
    third = review_services.review_queue_next(project=project, reviewer=reviewer)
    assert third.pk == older[0].pk  # then the ordinary queue, oldest first


def test_a_submitted_example_stays_in_its_round_and_moves_to_the_head(project, job, examples, owner, reviewer):
    target = examples[3]
    review_services.review_reopen(example=target, user=owner)
    target.refresh_from_db()
    round_before = target.review_round
    ExampleFactory(project=project, author=owner, messages=conversation(900), status=S.SUBMITTED)
    result = send(job, reviewer, [target.pk])
    assert result.sent == [target.pk]
    target.refresh_from_db()
    assert target.status == S.SUBMITTED
    assert target.review_round == round_before == target.flagged_round
    audit = Transition.objects.get(example=target, reason=flags.FLAG_REASON)
    assert audit.from_status == audit.to_status == S.SUBMITTED
    assert audit.actor == reviewer
    # Reopened examples are older than the one above but the flag puts this one first anyway.
    assert review_services.review_queue_next(project=project, reviewer=reviewer).pk == target.pk


def test_deleted_edited_returned_unscored_and_repeated_examples_are_skipped_with_the_reason(
    project, job, examples, owner, reviewer, annotator
):
    deleted, edited, returned, ok = examples[1], examples[2], examples[3], examples[4]
    Example.objects.filter(pk=deleted.pk).delete()
    # Edited after the job took its data: reopened, fixed by the reviewer and approved.
    review_services.review_reopen(example=edited, user=owner)
    edited.refresh_from_db()
    review_services.review_edit_and_approve(
        example=edited, reviewer=reviewer, version=edited.version, messages=conversation(4242)
    )
    Example.objects.filter(pk=returned.pk).update(status=S.CHANGES_REQUESTED)
    unscored = approved_example(project, annotator, reviewer, 7777)
    send(job, owner, [ok.pk])
    result = send(job, owner, [deleted.pk, edited.pk, returned.pk, unscored.pk, ok.pk, examples[5].pk])
    assert result.sent == [examples[5].pk]
    assert result.skipped[deleted.pk] == "was deleted (or is not in this project)"
    assert "was edited after job" in result.skipped[edited.pk]
    assert "old text" in result.skipped[edited.pk]
    assert result.skipped[returned.pk].startswith("is changes requested")
    assert result.skipped[unscored.pk] == f"has no loss score in job #{job.pk}"
    assert result.skipped[ok.pk].startswith(f"was already sent back by job #{job.pk}")
    assert "5 skipped" in result.summary()
    assert result.summary().startswith("1 example sent back")
    assert not ReviewFlag.objects.filter(example_number__in=[deleted.pk, edited.pk, returned.pk]).exists()


def test_bad_input_is_refused_by_name(job, examples, owner):
    for bad in ([], ["7"], [True], [0], "12", [2**63]):
        with pytest.raises(ApplicationError):
            send(job, owner, bad)
    with pytest.raises(ApplicationError, match="Unknown list"):
        send(job, owner, [examples[0].pk], ranking="worst")
    with pytest.raises(ApplicationError, match="NUL"):
        send(job, owner, [examples[0].pk], note="a\x00b")
    assert not ReviewFlag.objects.exists()


def test_only_reviewers_and_owners_send_back(job, examples, annotator, outsider, reviewer):
    for user in (annotator, outsider):
        with pytest.raises(PermissionDenied):
            send(job, user, [examples[0].pk])
    assert not ReviewFlag.objects.exists()
    assert send(job, reviewer, [examples[0].pk]).sent == [examples[0].pk]


def test_what_happened_since_fixed_confirmed_removed_pending(project, job, examples, owner, reviewer, annotator):
    fixed, confirmed, rejected, deleted, pending, returned = examples[:6]
    send(job, owner, [e.pk for e in examples[:6]])
    for e in examples[:6]:
        e.refresh_from_db()
    review_services.review_edit_and_approve(
        example=fixed, reviewer=reviewer, version=fixed.version, messages=conversation(31337)
    )
    review_services.review_approve(example=confirmed, reviewer=reviewer)
    review_services.review_reject(example=rejected, reviewer=reviewer, reason="factual_error")
    Example.objects.filter(pk=deleted.pk).delete()
    review_services.review_request_changes(example=returned, reviewer=reviewer, comment="Fix the total.")
    returned.refresh_from_db()
    example_services.example_update(
        example=returned, user=annotator, version=returned.version, messages=conversation(4040)
    )
    outcomes = {row.flag.example_number: row.outcome for row in found.job_flags(job).rows}
    assert outcomes == {
        fixed.pk: "fixed",
        confirmed.pk: "confirmed",
        rejected.pk: "removed",
        deleted.pk: "removed",
        pending.pk: "pending",
        returned.pk: "pending",
    }
    counts = {key: n for key, _, n in found.job_flags(job).counts}
    assert counts == {"pending": 2, "fixed": 1, "confirmed": 1, "removed": 2}
    # Re-approved: it is approved again, so the next dataset version takes it.
    assert Example.objects.get(pk=fixed.pk).status == S.APPROVED


def test_the_comment_says_rank_and_outliers_in_words():
    evidence = flags.flag_evidence(
        {"split": "validation", "category": "billing", "adapter_loss": 0.31, "rank": 40, "of": 50, "robust_z": -3.2}
    )
    text = flags.flag_comment(job_id=3, evidence=evidence, ranking="outliers")
    assert text == (
        "Flagged by training job #3: loss 0.3, rank 40 of 50 in the validation set, "
        "3.2 robust SD below the median of billing (list: outlier in its category)."
    )
    assert flags.flag_evidence("garbage")["rank"] == 0
