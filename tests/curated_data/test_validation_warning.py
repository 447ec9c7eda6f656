"""A version whose validation split is empty or tiny says so, at creation and on Train: figures computed on a
handful of validation examples (loss, the behavioural evaluation) can't be trusted."""

from __future__ import annotations

from curated_data.models import DatasetVersion
from curated_data.selectors import MIN_TRUSTED_VALIDATION, validation_warning


def version(n: int) -> DatasetVersion:
    return DatasetVersion(number=3, validation_count=n)


def test_an_empty_or_small_validation_split_is_named_and_the_fix_given():
    assert "has no validation examples" in validation_warning(version(0))
    assert "only 1 validation example:" in validation_warning(version(1))
    assert "only 4 validation examples" in validation_warning(version(4))
    assert "can't be trusted" in validation_warning(version(MIN_TRUSTED_VALIDATION - 1))
    assert "Approve more examples" in validation_warning(version(4))


def test_enough_validation_examples_say_nothing():
    assert validation_warning(version(MIN_TRUSTED_VALIDATION)) == ""
    assert validation_warning(version(500)) == ""
