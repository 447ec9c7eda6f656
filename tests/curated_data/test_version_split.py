"""The default validation split: raised to 10 conversations for pools of 40 or more (never past 25 %); smaller
pools keep the usual 10 %; a given fraction is kept as given."""

from __future__ import annotations

import pytest

from curated_data.forms import VersionForm
from curated_data.services import versions
from curated_data.services.versions import validation_counts

pytestmark = pytest.mark.django_db


def create(project, owner, **kwargs):
    return versions.version_create(project=project, user=owner, **kwargs)


@pytest.mark.parametrize(
    ("n", "categories", "expected"),
    [
        (40, ("billing", "general", "billing", "general"), 10),  # 10 % would give 4
        (40, ("billing", "general", "shop", "other"), 10),  # four categories of 10: rounding gives 8 or 12
        (68, ("billing", "billing", "billing", "general", "general", "shop", "shop"), 10),
        (60, ("billing", "general"), 10),
    ],
)
def test_without_a_fraction_validation_holds_ten_from_a_pool_of_forty(
    project, owner, approved, n, categories, expected
):
    approved(n, categories=categories)
    version = create(project, owner)
    assert version.validation_count == expected
    assert version.train_count == n - expected
    assert version.validation_count <= n * versions.MAX_DEFAULT_VALIDATION_SHARE
    assert version.validation_fraction == pytest.approx(expected / n, abs=1e-4)
    # Every category gives its share, and keeps training examples.
    assert all(c["validation"] >= 1 and c["train"] >= 1 for c in version.category_counts.values())
    # Same content, same seed: the same split.
    again = create(project, owner)
    assert again.validation_sha256 == version.validation_sha256


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (120, 12),  # 10 % already holds 10 or more
        (38, 4),  # under 40, 10 would be more than 25 %
        (10, 2),
        (4, 0),
    ],
)
def test_otherwise_the_usual_fraction_is_kept(project, owner, approved, n, expected):
    approved(n)
    version = create(project, owner)
    assert version.validation_fraction == pytest.approx(0.1)
    assert version.validation_count == expected


def test_a_given_fraction_is_kept_as_given(project, owner, approved):
    approved(60)
    small = create(project, owner, validation_fraction=0.05)
    assert small.validation_fraction == 0.05
    assert small.validation_count == 4  # 30 per category: 1.5 rounds to 2 each, below the default's 10
    none = create(project, owner, validation_fraction=0)
    assert (none.validation_count, none.validation_fraction) == (0, 0.0)
    half = create(project, owner, validation_fraction=0.5)
    assert half.validation_count == 30


def test_validation_counts_share_out_by_size_and_leave_every_category_a_training_example():
    assert validation_counts({"a": 10, "b": 10, "c": 10, "d": 10}, 10) == {"a": 3, "b": 3, "c": 2, "d": 2}
    assert validation_counts({"billing": 20, "shipping": 20, "account": 14, "general": 14}, 10) == {
        "billing": 3,
        "shipping": 3,
        "account": 2,
        "general": 2,
    }
    assert validation_counts({"a": 1, "b": 2, "c": 30}, 10) == {"a": 0, "b": 1, "c": 9}
    assert validation_counts({"a": 1, "b": 2}, 10) == {"a": 0, "b": 1}  # cannot reach 10: as many as allowed
    assert validation_counts({"a": 5}, 0) == {"a": 0}
    assert validation_counts({}, 10) == {}


def test_the_form_says_what_an_empty_fraction_does():
    help_text = str(VersionForm().fields["validation_fraction"].help_text)
    assert "kept as given" in help_text
    assert "10 conversations when the pool has 40 or more" in help_text
    assert "25 %" in help_text
