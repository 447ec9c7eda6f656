"""Glossary: forbidden variants (case-insensitive, whole word) replaced by the preferred term."""

from __future__ import annotations

from validators.base import MAX_PER_CODE, Check
from validators.findings import Finding, Location
from validators.inputs import ExampleInput, ProjectSpec
from validators.registry import make_finding


def match_case(found: str, preferred: str) -> str:
    """Keep a capital first letter ("Log in" -> "Sign in") unless the preferred term has its own casing."""
    if found[:1].isupper() and preferred[:1].islower() and preferred == preferred.lower():
        return preferred[:1].upper() + preferred[1:]
    return preferred


class GlossaryCheck(Check):
    name = "glossary"
    codes = ("glossary.forbidden_term",)

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        if not spec.glossary:
            return []
        loose, lookup, strict, needles = spec.glossary_index
        out: list[Finding] = []
        for index, message in enumerate(example.messages):
            if message.role != "assistant":  # users may say "login"; the model must not learn it
                continue
            text = message.content
            folded = text.casefold()
            if not any(needle in folded for needle in needles):
                continue
            count = 0
            for pattern, key in ((loose, str.casefold), (strict, str)):
                if pattern is None:
                    continue
                for m in pattern.finditer(text):
                    found = m.group()
                    preferred = lookup[key(found)]
                    if count >= MAX_PER_CODE:
                        break
                    count += 1
                    suggestion = match_case(found, preferred)
                    out.append(
                        make_finding(
                            "glossary.forbidden_term",
                            f"Use {preferred!r} instead of {found!r}.",
                            Location(index, m.start(), m.end()),
                            suggestion=suggestion,
                            evidence={"found": found, "preferred": preferred},
                        )
                    )
        return out
