"""Statistics of blind pairwise judgments (pure: no Django, no torch).

An outcome is one judgment of system `a` against system `b`: "a" (a better), "b" (b better), "tie"
or "bad" (both bad). Ties and both-bad count as half a win for each side in win rates and in the
Bradley–Terry fit; both-bad never becomes a preference pair.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054
OUTCOMES = ("a", "b", "tie", "bad")


@dataclass(frozen=True)
class Outcome:
    a: str
    b: str
    result: str  # one of OUTCOMES
    category: str = ""


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    n: int
    wins_a: int
    wins_b: int
    ties: int  # ties and both-bad
    win_rate_a: float | None  # (wins_a + ties / 2) / n
    low: float | None  # Wilson 95 % interval of win_rate_a
    high: float | None


@dataclass(frozen=True)
class Ranked:
    system: str
    strength: float  # Bradley–Terry strength, normalised to sum 1
    wins: float  # wins + ties / 2
    games: int


@dataclass(frozen=True)
class Agreement:
    items: int  # items judged by at least two reviewers (the first two judgments count)
    percent: float | None
    kappa: float | None


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (successes may be fractional: ties as halves)."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def pair_results(outcomes: Iterable[Outcome]) -> list[PairResult]:
    """Win rate with its 95 % Wilson interval per pair of systems (a < b by name)."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for o in outcomes:
        a, b, result = o.a, o.b, o.result
        if a > b:
            a, b = b, a
            result = {"a": "b", "b": "a"}.get(result, result)
        counts[(a, b)][{"a": 0, "b": 1}.get(result, 2)] += 1
    rows = []
    for (a, b), (wa, wb, ties) in sorted(counts.items()):
        n = wa + wb + ties
        rate = (wa + ties / 2) / n
        low, high = wilson(wa + ties / 2, n)
        rows.append(PairResult(a, b, n, wa, wb, ties, rate, low, high))
    return rows


def bradley_terry(
    outcomes: Iterable[Outcome], systems: Sequence[str] = (), iterations: int = 50, prior: float = 0.5
) -> list[Ranked]:
    """Bradley–Terry strengths by Hunter's MM updates, strongest first.

    Ties (and both-bad) are half a win for each side. `prior` adds that many virtual ties between
    every two systems that met, so a system that never won keeps a small positive strength.
    """
    names = list(dict.fromkeys([*systems]))
    wins: dict[str, float] = defaultdict(float)
    games: dict[tuple[str, str], float] = defaultdict(float)
    played: dict[str, int] = defaultdict(int)
    for o in outcomes:
        for name in (o.a, o.b):
            if name not in names:
                names.append(name)
        share = {"a": 1.0, "b": 0.0}.get(o.result, 0.5)
        wins[o.a] += share
        wins[o.b] += 1 - share
        key = (min(o.a, o.b), max(o.a, o.b))
        games[key] += 1
        played[o.a] += 1
        played[o.b] += 1
    if not names:
        return []
    raw_wins = dict(wins)
    for a, b in list(games):
        games[(a, b)] += 2 * prior
        wins[a] += prior
        wins[b] += prior
    strength = dict.fromkeys(names, 1.0 / len(names))
    for _ in range(iterations):
        updated = {}
        for i in names:
            denominator = 0.0
            for (a, b), n in games.items():
                if i in (a, b):
                    j = b if i == a else a
                    denominator += n / (strength[i] + strength[j])
            updated[i] = wins[i] / denominator if denominator else strength[i]
        total = sum(updated.values()) or 1.0
        strength = {k: v / total for k, v in updated.items()}
    ranked = [Ranked(n, strength[n], raw_wins.get(n, 0.0), played.get(n, 0)) for n in names]
    return sorted(ranked, key=lambda r: (-r.strength, r.system))


def agreement(pairs: Iterable[tuple[str, str]]) -> Agreement:
    """Agreement of two reviewers over the items both judged: percent agreement and Cohen's kappa."""
    pairs = list(pairs)
    if not pairs:
        return Agreement(0, None, None)
    n = len(pairs)
    observed = sum(1 for x, y in pairs if x == y) / n
    first: dict[str, int] = defaultdict(int)
    second: dict[str, int] = defaultdict(int)
    for x, y in pairs:
        first[x] += 1
        second[y] += 1
    expected = sum(first[c] * second[c] for c in set(first) | set(second)) / (n * n)
    kappa = None if expected >= 1 else (observed - expected) / (1 - expected)
    return Agreement(n, observed, kappa)
