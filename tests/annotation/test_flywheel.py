"""The drafting flywheel: per drafter, drafts kept, the share approved unchanged, the median edit distance
and the median time from draft to submit, on hand-made drafts judged by real approvals; and the dashboard's
table, which says when there are too few drafts to trust."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.models import DraftOutcome, ExampleDraft, ExampleStatus
from annotation.selectors.examples import ExampleFilters
from annotation.selectors.flywheel import TRUSTED_DRAFTS, drafting_flywheel
from annotation.services import reviews
from tests.annotation.draft_helpers import DRAFT, QUESTION, drafting_adapter
from tests.factories import ExampleFactory
from validators.edit_distance import normalised_distance

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def drafted(project, author, answer: str, *, by: str = "support-v2", adapter=None, minutes: float = 1.0, **fields):
    """A submitted example whose answer `answer` was drafted as DRAFT by `by`, `minutes` before submitting."""
    example = ExampleFactory(
        project=project,
        author=author,
        messages=[*QUESTION, {"role": "assistant", "content": answer}],
        **{"status": ExampleStatus.SUBMITTED, "submitted_at": NOW, "review_round": 1, **fields},
    )
    ExampleDraft.objects.create(
        example=example,
        turn_index=2,
        prompt=QUESTION,
        text=DRAFT,
        adapter=adapter,
        adapter_name=by,
        base_model_name="smol-instruct",
        requested_by=author,
        requested_at=NOW - timedelta(minutes=minutes),
    )
    return example


def test_the_figures_per_drafter_from_approvals(project, owner, annotator, reviewer):
    adapter = drafting_adapter(project, owner)
    small, large = DRAFT.replace("then Reset", "and Reset"), "Ask support to reset it for you."
    approve = [
        drafted(project, annotator, DRAFT, adapter=adapter, minutes=1),
        drafted(project, annotator, small, adapter=adapter, minutes=2),
        drafted(project, annotator, large, adapter=adapter, minutes=3),
    ]
    for example in approve:
        reviews.review_approve(example=example, reviewer=reviewer)
    rejected = drafted(project, annotator, large, adapter=adapter, minutes=10)
    reviews.review_reject(example=rejected, reviewer=reviewer, reason="style")
    moved = drafted(project, annotator, large, adapter=adapter, minutes=5)
    reviews.review_edit_and_approve(
        example=moved,
        reviewer=reviewer,
        version=moved.version,
        messages=[QUESTION[0], {"role": "user", "content": "Other?"}, {"role": "assistant", "content": "Yes."}],
    )
    drafted(project, annotator, "", by="Base model", status=ExampleStatus.DRAFT, submitted_at=None)

    support, base = drafting_flywheel(project)
    assert (support.name, support.kept, support.judged, support.unchanged) == ("support-v2", 5, 3, 1)
    assert support.unchanged_share == pytest.approx(1 / 3)
    # Median of 0 (unchanged), the small fix and the rewrite: the small fix.
    assert support.median_distance == pytest.approx(normalised_distance(DRAFT, small))
    assert 0 < support.median_distance < normalised_distance(DRAFT, large)
    # From draft to submit: 1, 2, 3, 10 and 5 minutes; the median is 3 minutes.
    assert (support.median_to_submit, support.timed, support.to_submit_words) == (timedelta(minutes=3), 5, "3 min")
    assert not support.trusted
    assert (base.name, base.kept, base.judged, base.unchanged_share, base.median_distance) == (
        "Base model",
        1,
        0,
        None,
        None,
    )
    assert (base.median_to_submit, base.to_submit_words) == (None, "")
    outcomes = dict(ExampleDraft.objects.filter(example__in=approve).values_list("example_id", "approved_outcome"))
    assert list(outcomes.values()) == [DraftOutcome.UNCHANGED, DraftOutcome.EDITED, DraftOutcome.EDITED]


def test_a_reopened_example_no_longer_counts_until_approved_again(project, owner, annotator, reviewer):
    example = drafted(project, annotator, DRAFT)
    reviews.review_approve(example=example, reviewer=reviewer)
    assert drafting_flywheel(project)[0].judged == 1
    reviews.review_reopen(example=example, user=owner)
    assert drafting_flywheel(project)[0].judged == 0


def test_the_dashboard_says_when_there_are_too_few_drafts_to_trust(client_as, project, owner, annotator, reviewer):
    url = reverse("project-dashboard", args=[project.pk])
    page = client_as(annotator).get(url).content.decode()
    assert "Drafting: does each adapter save work?" in page
    assert "No drafts kept yet" in page
    for n in range(3):
        reviews.review_approve(example=drafted(project, annotator, DRAFT if n else "Rewritten."), reviewer=reviewer)
    page = client_as(annotator).get(url).content.decode()
    assert "<td>support-v2</td><td>3</td><td>3</td>" in page
    assert '67% <span class="muted small">(2 of 3)</span>' in page
    assert f"support-v2: only 3 drafts judged by an approval, fewer than {TRUSTED_DRAFTS}: too few to trust" in page
    assert reverse("project-preferences", args=[project.pk]) not in page  # the export is the owners'
    assert reverse("project-preferences", args=[project.pk]) in client_as(owner).get(url).content.decode()


def test_enough_drafts_are_shown_without_the_note(client_as, project, owner, annotator):
    for n in range(TRUSTED_DRAFTS):
        drafted(project, annotator, DRAFT if n % 4 else "Rewritten by hand.", minutes=n + 1)
    result = reviews.examples_bulk(
        project=project,
        user=owner,
        action=reviews.BulkAction.APPROVE,
        examples=reviews.bulk_selection(project=project, filters=ExampleFilters(status="submitted")),
    )
    assert result.changed == TRUSTED_DRAFTS
    (figures,) = drafting_flywheel(project)
    assert (figures.judged, figures.unchanged, figures.trusted) == (20, 15, True)
    assert figures.median_distance == 0.0
    page = client_as(annotator).get(reverse("project-dashboard", args=[project.pk])).content.decode()
    assert '75% <span class="muted small">(15 of 20)</span>' in page
    assert "too few to trust" not in page
