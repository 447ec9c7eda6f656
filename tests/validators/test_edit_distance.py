"""Levenshtein distance on characters, and its normalisation by the longer text, whose cost stays bounded
for answers of any length (no database)."""

from __future__ import annotations

import math
import random

import pytest

from validators.edit_distance import COMPARED, levenshtein, normalised_distance

WORDS = "open the billing page choose export invoice download settings security account order refund".split()


def table(a: str, b: str) -> int:
    """The textbook dynamic-programming table, the reference the fast count must agree with."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def answer(words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words))


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


@pytest.mark.parametrize("alphabet", ["ab", "abcé ", "The quick brown fox, jumps."])
def test_levenshtein_agrees_with_the_textbook_table(alphabet):
    rng = random.Random(alphabet)
    for _ in range(300):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        assert levenshtein(a, b) == table(a, b), (a, b)


def test_a_long_answer_gives_a_bounded_figure():
    draft = answer(10_000, seed=1)  # about 60,000 characters: far more than COMPARED per side
    assert len(draft) > 5 * COMPARED
    assert normalised_distance(draft, "".join(draft)) == 0.0  # identical (an equal copy, not the same object)
    rewritten = answer(10_000, seed=2)
    distance = normalised_distance(draft, rewritten)
    assert isinstance(distance, float)
    assert math.isfinite(distance)
    assert 0.0 < distance <= 1.0
    assert normalised_distance(draft, "") == 1.0
    assert normalised_distance(draft, draft[: len(draft) // 2]) == pytest.approx(0.5, abs=1e-4)  # half taken out
    # Fixes at both ends leave no long common prefix or suffix to cut: the estimate still reads "small".
    fixed = "Hello! " + draft[10:-10] + " Regards."
    assert 0.0 < normalised_distance(draft, fixed) < 0.01


def test_beyond_the_compared_share_the_estimate_stays_near_the_exact_figure():
    draft, rewritten = answer(300, seed=3), answer(300, seed=4)
    exact = normalised_distance(draft, rewritten)
    assert exact == levenshtein(draft, rewritten) / max(len(draft), len(rewritten))
    estimate = normalised_distance(draft, rewritten, compared=500)  # a third of each side compared
    assert 0.0 <= estimate <= 1.0
    assert estimate == pytest.approx(exact, abs=0.1)
