"""How far an approved answer moved from a model's draft: Levenshtein distance on characters.

Pure Python, no Django: the drafting flywheel (`annotation.selectors.flywheel`) reads the normalised
distance kept with each preference pair, computed once when the pair is recorded.
"""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """The fewest single-character insertions, deletions and substitutions that turn `a` into `b`.

    Two rows of the dynamic-programming table, the shorter string across them: memory O(min(len)),
    time O(len(a) * len(b)). A common prefix and suffix are cut first, which makes the usual
    correction (a few words changed in a long answer) cheap."""
    if a == b:
        return 0
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    a, b = a[start:end_a], b[start:end_b]
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def normalised_distance(a: str, b: str) -> float:
    """`levenshtein(a, b)` divided by the longer length: 0.0 the same text, 1.0 nothing in common.
    Two empty texts are the same (0.0)."""
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0
