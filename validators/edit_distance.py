"""How far an approved answer moved from a model's draft: Levenshtein distance on characters.

Pure Python, no Django: the drafting flywheel (`annotation.selectors.flywheel`) reads the normalised
distance kept with each preference pair, computed once when the pair is recorded, inside the approval's
transaction. `normalised_distance` therefore has a bounded cost whatever the answers' length.
"""

from __future__ import annotations

import math

# The approval's cost cap: `normalised_distance` compares at most COMPARED characters of each side after
# the common beginning and end are cut (the same share of each side, from where they first differ), so
# the bit-parallel table below never exceeds COMPARED² cells, about 0.1 s in CPython; beyond that the
# count on the compared share is scaled to the whole and kept between the true distance's bounds (the
# length difference and the longer length). Answers of up to ~1,600 words per side are measured exactly.
COMPARED = 10_000


def _trimmed(a: str, b: str) -> tuple[str, str]:
    """`a` and `b` without their common prefix and suffix (which cost no edit)."""
    start = 0
    shortest = min(len(a), len(b))
    while start < shortest and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    return a[start:end_a], b[start:end_b]


def _bit_parallel(a: str, b: str) -> int:
    """Levenshtein distance by Myers' bit-vector algorithm (Hyyrö's form): one column of the table per
    character of `a`, held as the vertical deltas of all `len(b)` rows in two integers, so a column
    costs a few big-integer operations instead of `len(b)` Python steps."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    masks: dict[str, int] = {}
    for i, char in enumerate(b):
        masks[char] = masks.get(char, 0) | (1 << i)
    full, top = (1 << len(b)) - 1, 1 << (len(b) - 1)
    up, down, score = full, 0, len(b)  # rows where the column goes up / down by one; the last row's value
    for char in a:
        eq = masks.get(char, 0)
        vertical = eq | down
        horizontal = (((eq & up) + up) ^ up) | eq
        plus = down | (~(horizontal | up) & full)
        minus = up & horizontal
        if plus & top:
            score += 1
        elif minus & top:
            score -= 1
        plus = ((plus << 1) | 1) & full
        minus = (minus << 1) & full
        up = minus | (~(vertical | plus) & full)
        down = plus & vertical
    return score


def levenshtein(a: str, b: str) -> int:
    """The fewest single-character insertions, deletions and substitutions that turn `a` into `b`.

    Exact, whatever the length: time O(len(a) * len(b) / machine word) after a common prefix and suffix
    are cut, which makes the usual correction (a few words changed in a long answer) cheap. For a
    figure with a bounded cost, use `normalised_distance`."""
    if a == b:
        return 0
    return _bit_parallel(*_trimmed(a, b))


def normalised_distance(a: str, b: str, *, compared: int = COMPARED) -> float:
    """`levenshtein(a, b)` divided by the longer length: 0.0 the same text, 1.0 nothing in common.
    Two empty texts are the same (0.0). Exact while the parts that differ have at most `compared`
    characters per side; an estimate beyond (see COMPARED)."""
    longest = max(len(a), len(b))
    if a == b or not longest:
        return 0.0
    a, b = _trimmed(a, b)
    if len(a) < len(b):
        a, b = b, a
    if len(a) <= compared:
        return _bit_parallel(a, b) / longest
    share = compared / len(a)
    estimate = _bit_parallel(a[:compared], b[: math.ceil(len(b) * share)]) / share
    return min(max(estimate, len(a) - len(b)), len(a)) / longest
