"""House style rules a project states: a required opening, a required sign-off, a maximum length.

A project stores its rules as plain JSON (``ProjectSpec.style_rules``)::

    {"opening": "**In short:**", "signoff": "— Acme Support", "max_words": 45}

Every key is optional; an empty or missing value means "no rule". The rules apply to every assistant
turn of a conversation (users write what they like):

- ``style.opening``: the answer must start with the opening (leading whitespace is left to the
  formatting check);
- ``style.signoff``: the answer must end with the sign-off (trailing whitespace ignored);
- ``style.length``: the answer has at most ``max_words`` words (whitespace-separated).

`parse_style_rules` is the strict reading of what a user typed (every problem named, per rule);
`StyleRules.from_dict` reads a stored value leniently. `follows_style` says whether one answer keeps
the rules (what an evaluation of generated answers counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from validators.base import Check
from validators.findings import Finding, Location
from validators.inputs import ExampleInput, Message, ProjectSpec
from validators.registry import make_finding

MAX_RULE_CHARS = 200
"""Longest opening or sign-off a project may state."""
MAX_WORDS_LIMIT = 100_000
RULE_NAMES = {"opening": "Required opening", "signoff": "Required sign-off", "max_words": "Maximum words per answer"}
"""Each rule's key in the stored JSON and its name for people."""


@dataclass(frozen=True, slots=True)
class StyleRules:
    """A project's house style. Empty strings and None mean "no rule"."""

    opening: str = ""
    signoff: str = ""
    max_words: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> StyleRules:
        """Read stored rules leniently: values of the wrong type are ignored (`parse_style_rules` refuses them)."""
        if not isinstance(data, Mapping):
            return cls()
        opening = data.get("opening")
        signoff = data.get("signoff")
        max_words = data.get("max_words")
        return cls(
            opening=opening.strip() if isinstance(opening, str) else "",
            signoff=signoff.strip() if isinstance(signoff, str) else "",
            max_words=max_words
            if isinstance(max_words, int) and not isinstance(max_words, bool) and max_words > 0
            else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored shape, only the rules that are set (no rules: ``{}``)."""
        out: dict[str, Any] = {}
        if self.opening:
            out["opening"] = self.opening
        if self.signoff:
            out["signoff"] = self.signoff
        if self.max_words is not None:
            out["max_words"] = self.max_words
        return out

    @property
    def active(self) -> bool:
        return bool(self.opening or self.signoff or self.max_words)

    def describe(self) -> list[str]:
        """The rules in plain words, one sentence each (what annotators are shown)."""
        out = []
        if self.opening:
            out.append(f"Start every answer with “{self.opening}”.")
        if self.signoff:
            out.append(f"End every answer with “{self.signoff}”.")
        if self.max_words:
            out.append(f"Keep every answer to at most {self.max_words} words.")
        return out


def style_rules_problems(data: Any) -> dict[str, str]:
    """What is wrong with rules a user typed, by rule key ("" for the whole value); empty when fine."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        return {"": 'An object such as {"opening": "Hi!", "signoff": "— The team", "max_words": 60}, or {}.'}
    problems: dict[str, str] = {}
    unknown = sorted(str(k) for k in data if k not in RULE_NAMES)
    if unknown:
        problems[""] = f"Unknown rule(s): {', '.join(unknown)}. The rules are: {', '.join(RULE_NAMES)}."
    for key in ("opening", "signoff"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            problems[key] = f"{RULE_NAMES[key]}: text, or empty for none."
        elif len(value.strip()) > MAX_RULE_CHARS:
            problems[key] = f"{RULE_NAMES[key]}: at most {MAX_RULE_CHARS} characters (this has {len(value.strip())})."
        elif any(ord(ch) < 32 and ch not in "\n\t" for ch in value) or "\x7f" in value:
            problems[key] = f"{RULE_NAMES[key]}: remove the invisible control characters."
    value = data.get("max_words")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORDS_LIMIT
    ):
        problems["max_words"] = f"{RULE_NAMES['max_words']}: a whole number from 1 to {MAX_WORDS_LIMIT:,}, or empty."
    return problems


def parse_style_rules(data: Any) -> StyleRules:
    """Rules a user typed, checked strictly: ValueError naming every problem."""
    problems = style_rules_problems(data)
    if problems:
        raise ValueError(" ".join(problems.values()))
    return StyleRules.from_dict(data)


def word_count(text: str) -> int:
    return len(text.split())


def _quote(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"


def answer_findings(index: int, text: str, rules: StyleRules) -> list[Finding]:
    """Findings for one assistant answer (message `index` of its conversation)."""
    out: list[Finding] = []
    if not text.strip():
        return out  # an empty turn is the formatting check's finding
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    if rules.opening and not text.startswith(rules.opening, start):
        line_end = text.find("\n", start)
        head_end = min(start + max(len(rules.opening), 1), end if line_end < 0 else line_end)
        while head_end < end and not text[head_end].isspace():  # whole words
            head_end += 1
        found = text[start:head_end]
        near = found.casefold() == rules.opening.casefold()
        out.append(
            make_finding(
                "style.opening",
                f"The answer should start with {_quote(rules.opening)}"
                + (" (mind the capitals)." if near else f"; it starts with {_quote(found)}."),
                Location(index, start, max(head_end, start)),
                suggestion=f"Start the answer with {_quote(rules.opening, 200)}.",
                evidence={"expected": rules.opening, "found": found},
            )
        )
    if rules.signoff and not text[:end].endswith(rules.signoff):
        tail_start = max(end - max(len(rules.signoff), 1), start)
        line_start = text.rfind("\n", start, end)
        if line_start >= tail_start:
            tail_start = line_start + 1
        while tail_start > start and not text[tail_start - 1].isspace():  # whole words
            tail_start -= 1
        found = text[tail_start:end]
        out.append(
            make_finding(
                "style.signoff",
                f"The answer should end with {_quote(rules.signoff)}; it ends with {_quote(found)}.",
                Location(index, tail_start, end),
                suggestion=f"End the answer with {_quote(rules.signoff, 200)} on its own.",
                evidence={"expected": rules.signoff, "found": found},
            )
        )
    if rules.max_words:
        words = word_count(text)
        if words > rules.max_words:
            out.append(
                make_finding(
                    "style.length",
                    f"The answer has {words} words; the project's limit is {rules.max_words}.",
                    Location(index, start, end),
                    suggestion=f"Shorten it to at most {rules.max_words} words.",
                    evidence={"words": words, "max_words": rules.max_words},
                )
            )
    return out


def follows_style(text: str, rules: StyleRules | Mapping[str, Any]) -> bool:
    """Whether one answer keeps every rule (no rules: any non-empty answer does; an empty one never)."""
    parsed = rules if isinstance(rules, StyleRules) else StyleRules.from_dict(rules)
    return bool(text.strip()) and not answer_findings(0, text, parsed)


def blank_house_marks(example: ExampleInput, style_rules: Mapping[str, Any] | None) -> ExampleInput:
    """The example with each assistant answer's opening and sign-off replaced by spaces (offsets kept).

    They are the house's marks, not statements: the fact check reads the answer without them (a sign-off
    such as "— Acme Support" is not a claim about Acme)."""
    rules = StyleRules.from_dict(style_rules)
    if not (rules.opening or rules.signoff):
        return example
    messages = []
    changed = False
    for message in example.messages:
        text = message.content
        if message.role == "assistant" and text.strip():
            start = len(text) - len(text.lstrip())
            end = len(text.rstrip())
            if rules.opening and text.startswith(rules.opening, start):
                text = text[:start] + " " * len(rules.opening) + text[start + len(rules.opening) :]
            if rules.signoff and text[:end].endswith(rules.signoff) and end - len(rules.signoff) >= start:
                text = text[: end - len(rules.signoff)] + " " * len(rules.signoff) + text[end:]
        changed = changed or text != message.content
        messages.append(Message(message.role, text))
    return replace(example, messages=tuple(messages)) if changed else example


class StyleCheck(Check):
    """The project's house style on every assistant turn."""

    name = "house_style"
    codes = ("style.opening", "style.signoff", "style.length")

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        if not spec.style_rules:
            return []
        rules = StyleRules.from_dict(spec.style_rules)
        if not rules.active:
            return []
        out: list[Finding] = []
        for index, message in enumerate(example.messages):
            if message.role == "assistant":
                out.extend(answer_findings(index, message.content, rules))
        return out
