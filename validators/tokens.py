"""Token budget: the conversation must fit the training max length, or truncation cuts the answer."""

from __future__ import annotations

import math

from validators.base import Check
from validators.findings import Finding, Location
from validators.inputs import ExampleInput, ProjectSpec
from validators.registry import make_finding


def count_tokens(text: str, spec: ProjectSpec) -> int:
    """Tokens of `text` with the project's tokenizer, or a character estimate without one."""
    if spec.tokenizer is not None:
        return int(spec.tokenizer(text))
    return math.ceil(len(text) / spec.chars_per_token) if text else 0


def _cut_offset(text: str, budget: int, spec: ProjectSpec) -> int:
    """Largest prefix length of `text` that still fits in `budget` tokens (binary search)."""
    if budget <= 0:
        return 0
    if spec.tokenizer is None:
        return min(len(text), int(budget * spec.chars_per_token))
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid], spec) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


class TokenBudgetCheck(Check):
    name = "tokens"
    codes = ("tokens.too_long", "tokens.near_limit")

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        limit = spec.max_tokens
        if not limit or not example.messages:
            return []
        overhead = spec.template_overhead_tokens
        counts = [count_tokens(m.content, spec) + overhead for m in example.messages]
        total = sum(counts)
        estimated = spec.tokenizer is None
        evidence = {"tokens": total, "max_tokens": limit, "estimated": estimated}
        unit = "tokens (estimated)" if estimated else "tokens"
        if total > limit:
            used = 0
            for index, count in enumerate(counts):
                if used + count > limit:
                    text = example.messages[index].content
                    cut = _cut_offset(text, limit - used - overhead, spec)
                    location = Location(index, cut, len(text))
                    break
                used += count
            return [
                make_finding(
                    "tokens.too_long",
                    f"{total} {unit} is over the maximum of {limit}: training would cut the conversation "
                    f"from message {location.message + 1} on.",
                    location,
                    evidence=evidence,
                )
            ]
        if total > spec.near_limit_ratio * limit:
            return [
                make_finding(
                    "tokens.near_limit",
                    f"{total} of {limit} {unit} used ({total / limit:.0%}).",
                    Location(len(counts) - 1),
                    evidence=evidence,
                )
            ]
        return []
