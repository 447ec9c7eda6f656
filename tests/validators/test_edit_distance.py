"""Levenshtein distance on characters, and its normalisation by the longer text (no database)."""

from __future__ import annotations

import pytest

from validators.edit_distance import levenshtein, normalised_distance


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("Open Settings.", "Open Settings.", 0),
        ("Open Settings, then Security.", "Open Settings, then Privacy.", 7),
        ("gumbo", "gambol", 2),
        ("ab", "ba", 2),
        ("café", "cafe", 1),
    ],
)
def test_levenshtein_counts_the_fewest_single_character_edits(a, b, expected):
    assert levenshtein(a, b) == expected
    assert levenshtein(b, a) == expected


def test_normalised_distance_divides_by_the_longer_text():
    assert normalised_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalised_distance("same", "same") == 0.0
    assert normalised_distance("", "") == 0.0
    assert normalised_distance("abc", "xyz") == 1.0
    assert normalised_distance("", "anything") == 1.0


def test_a_small_fix_in_a_long_answer_is_a_small_distance():
    draft = "Open Billing, pick the invoice and choose Export as PDF. " * 20
    approved = draft.replace("Export as PDF", "Download", 1)
    assert 5 <= levenshtein(draft, approved) <= len("Export as PDF")  # at most: 8 substitutions, 5 deletions
    assert 0 < normalised_distance(draft, approved) < 0.02
