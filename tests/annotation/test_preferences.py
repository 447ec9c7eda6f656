"""Corrected drafts become preference pairs when the example is approved: not for a draft kept unchanged,
nor for a rejected example; once per draft, brought up to date by a later approval."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotation.models import ExampleStatus, PreferenceOrigin, PreferencePair
from annotation.selectors.examples import ExampleFilters
from annotation.services import reviews
from tests.annotation.draft_helpers import DRAFT, QUESTION, drafted_example, drafting_adapter

pytestmark = pytest.mark.django_db

FIXED = "Open Settings > Security and choose Reset password. You will get an email."


@pytest.fixture
def adapter(project, owner):
    return drafting_adapter(project, owner)


def test_approving_a_corrected_draft_records_the_pair(project, annotator, reviewer, adapter):
    example = drafted_example(project, annotator, FIXED)
    reviews.review_approve(example=example, reviewer=reviewer)
    pair = PreferencePair.objects.get()
    assert (pair.example, pair.project, pair.turn_index, pair.origin) == (
        example,
        project,
        2,
        PreferenceOrigin.DRAFT_CORRECTION,
    )
    assert pair.prompt == QUESTION  # the conversation up to the user turn answered
    assert (pair.chosen, pair.rejected) == (FIXED, DRAFT)
    assert (pair.adapter, pair.adapter_name) == (adapter, "support-v2")
    assert (pair.corrected_by, pair.approved_by) == (annotator, reviewer)
    assert 0 < pair.edit_distance < 1
    assert pair.approved_at is not None


def test_a_draft_kept_unchanged_but_for_line_endings_and_trailing_space_makes_no_pair(
    project, annotator, reviewer, adapter
):
    example = drafted_example(project, annotator, DRAFT + "  \n", draft=DRAFT + " \r\n")
    reviews.review_approve(example=example, reviewer=reviewer)
    example.refresh_from_db()
    assert example.status == ExampleStatus.APPROVED
    assert PreferencePair.objects.count() == 0


def test_a_rejected_or_not_yet_approved_example_makes_no_pair(project, annotator, reviewer, owner, adapter):
    rejected = drafted_example(project, annotator, FIXED)
    reviews.review_reject(example=rejected, reviewer=reviewer, reason="style")
    sent_back = drafted_example(project, annotator, FIXED)
    reviews.review_request_changes(example=sent_back, reviewer=reviewer, comment="Shorter, please.")
    project.reviews_required = 2
    project.save(update_fields=["reviews_required"])
    half = drafted_example(project, annotator, FIXED)
    reviews.review_approve(example=half, reviewer=reviewer)  # one approval of two: not approved yet
    assert PreferencePair.objects.count() == 0
    reviews.review_approve(example=half, reviewer=owner)
    assert PreferencePair.objects.get().approved_by == owner


def test_edit_and_approve_records_the_reviewers_answer_as_chosen(project, annotator, reviewer, adapter):
    example = drafted_example(project, annotator, DRAFT)  # the annotator kept the draft as it was
    better = "Go to Settings › Security › Reset password; a link arrives by email."
    reviews.review_edit_and_approve(
        example=example,
        reviewer=reviewer,
        version=example.version,
        messages=[*QUESTION, {"role": "assistant", "content": better}],
    )
    pair = PreferencePair.objects.get()
    assert (pair.chosen, pair.rejected) == (better, DRAFT)
    assert (pair.corrected_by, pair.approved_by) == (reviewer, reviewer)  # the last editor corrected it


def test_a_reapproval_updates_the_one_pair_and_a_reverted_answer_removes_it(
    project, annotator, reviewer, owner, adapter
):
    example = drafted_example(project, annotator, FIXED)
    reviews.review_approve(example=example, reviewer=reviewer)
    first = PreferencePair.objects.get()
    reopened = reviews.review_reopen(example=example, user=owner)
    again = "Open Settings, then Security, then Reset password; check your inbox."
    reviews.review_edit_and_approve(
        example=reopened,
        reviewer=reviewer,
        version=reopened.version,
        messages=[*QUESTION, {"role": "assistant", "content": again}],
    )
    pair = PreferencePair.objects.get()  # still one: the same draft is never paired twice
    assert (pair.pk, pair.chosen, pair.rejected) == (first.pk, again, DRAFT)
    reopened = reviews.review_reopen(example=example, user=owner)
    reviews.review_edit_and_approve(
        example=reopened,
        reviewer=reviewer,
        version=reopened.version,
        messages=[*QUESTION, {"role": "assistant", "content": DRAFT}],
    )
    assert PreferencePair.objects.count() == 0  # approved as drafted: no correction left to learn from


def test_a_question_changed_after_the_draft_makes_no_pair(project, annotator, reviewer, adapter):
    example = drafted_example(project, annotator, FIXED)
    other = [QUESTION[0], {"role": "user", "content": "How do I delete my account?"}]
    reviews.review_edit_and_approve(
        example=example,
        reviewer=reviewer,
        version=example.version,
        messages=[*other, {"role": "assistant", "content": "Settings › Account › Delete."}],
    )
    assert PreferencePair.objects.count() == 0


def test_an_owners_bulk_approval_records_the_pairs_too(project, annotator, owner, adapter):
    corrected = drafted_example(project, annotator, FIXED)
    unchanged = drafted_example(project, annotator, DRAFT)
    result = reviews.examples_bulk(
        project=project,
        user=owner,
        action=reviews.BulkAction.APPROVE,
        examples=reviews.bulk_selection(project=project, filters=ExampleFilters(status="submitted")),
    )
    assert result.changed == 2
    assert list(PreferencePair.objects.values_list("example_id", "approved_by")) == [(corrected.pk, owner.pk)]
    assert unchanged.pk not in PreferencePair.objects.values_list("example_id", flat=True)


def test_staff_read_the_pairs_in_the_admin(client_as, project, annotator, reviewer, adapter):
    example = drafted_example(project, annotator, FIXED)
    reviews.review_approve(example=example, reviewer=reviewer)
    pair = PreferencePair.objects.get()
    staff = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = client_as(staff)
    assert client.get("/admin/annotation/preferencepair/").status_code == 200
    page = client.get(f"/admin/annotation/preferencepair/{pair.pk}/change/")
    assert page.status_code == 200
    assert "Open Settings &gt; Security" in page.content.decode()
