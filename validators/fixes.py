"""Auto-fixes. Safe ones (whitespace, line endings, invisible characters, mojibake) never change meaning;
explicit ones (redaction, glossary terms, template tokens) are applied only when asked for by code."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ftfy

from validators.findings import Finding
from validators.formatting import CONTROL_RE, DOUBLE_SPACE_RE, TEMPLATE_TOKEN_RE, ZERO_WIDTH_RE, code_spans, mask
from validators.glossary import GlossaryCheck
from validators.inputs import ExampleInput, Message, ProjectSpec
from validators.pii import PiiCheck
from validators.registry import REGISTRY

SAFE_FIXES: tuple[str, ...] = tuple(code for code, info in REGISTRY.items() if info.fix == "safe")
EXPLICIT_FIXES: tuple[str, ...] = tuple(code for code, info in REGISTRY.items() if info.fix == "explicit")


def _double_space(text: str) -> str:
    spans, _ = code_spans(text)
    prose = mask(text, spans) if spans else text
    matches = list(DOUBLE_SPACE_RE.finditer(prose))
    for m in reversed(matches):
        text = text[: m.start()] + " " + text[m.end() :]
    return text


def _replace_findings(text: str, findings: Iterable[Finding]) -> str:
    spans: list[tuple[int, int, str]] = []
    for f in findings:
        if f.location is not None and f.location.start is not None and f.location.end is not None:
            spans.append((f.location.start, f.location.end, f.suggestion or ""))
    last_start = len(text) + 1
    for start, end, replacement in sorted(spans, reverse=True):
        if end > last_start:
            continue  # overlapping: keep the later one
        text = text[:start] + replacement + text[end:]
        last_start = start
    return text


_TEXT_FIXES: dict[str, Callable[[str], str]] = {
    "fmt.mojibake": lambda t: ftfy.fix_encoding(t) if not t.isascii() else t,
    "fmt.line_endings": lambda t: t.replace("\r\n", "\n").replace("\r", "\n"),
    "fmt.control_char": lambda t: CONTROL_RE.sub("", t),
    "fmt.zero_width": lambda t: ZERO_WIDTH_RE.sub("", t) if not t.isascii() else t,
    "fmt.template_token": lambda t: TEMPLATE_TOKEN_RE.sub("", t),
}
_ORDER = (
    "fmt.mojibake", "fmt.line_endings", "fmt.control_char", "fmt.zero_width", "fmt.template_token", "pii.*",
    "glossary.forbidden_term", "fmt.double_space", "fmt.leading_whitespace", "fmt.trailing_whitespace",
)  # fmt: skip


def apply_fixes(
    example: ExampleInput | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    codes: str | Iterable[str] | None = None,
    spec: ProjectSpec | None = None,
    *,
    message: int | None = None,
) -> list[dict[str, str]]:
    """Return the example's messages with fixes applied (the input is not modified).

    `codes`: one code, several, or None for every safe fix (`SAFE_FIXES`). Explicit codes
    (`EXPLICIT_FIXES`: ``pii.*`` redaction, ``glossary.forbidden_term``, ``fmt.template_token``) are only
    applied when named; ``"pii.*"`` names every PII code. `spec` is needed for the glossary.
    `message`: only fix this message index. Unknown or unfixable codes raise ValueError.
    """
    ex = ExampleInput.coerce(example)
    spec = spec or ProjectSpec()
    if codes is None:
        wanted = set(SAFE_FIXES)
    else:
        wanted = {codes} if isinstance(codes, str) else set(codes)
        if "pii.*" in wanted:
            wanted.discard("pii.*")
            wanted.update(c for c in EXPLICIT_FIXES if c.startswith("pii."))
        unknown = [c for c in wanted if c not in REGISTRY or REGISTRY[c].fix is None]
        if unknown:
            raise ValueError(f"No automatic fix for: {', '.join(sorted(unknown))}")
    pii_codes = {c for c in wanted if c.startswith("pii.")}
    out: list[dict[str, str]] = []
    for index, msg in enumerate(ex.messages):
        text = msg.content
        if message is not None and index != message:
            out.append(msg.to_dict())
            continue
        for step in _ORDER:
            if step == "pii.*":
                if pii_codes:
                    found = PiiCheck().check(ExampleInput((Message(msg.role, text),)), spec)
                    text = _replace_findings(text, (f for f in found if f.code in pii_codes))
            elif step not in wanted:
                continue
            elif step in _TEXT_FIXES:
                text = _TEXT_FIXES[step](text)
            elif step == "glossary.forbidden_term":
                found = GlossaryCheck().check(ExampleInput((Message(msg.role, text),)), spec)
                text = _replace_findings(text, found)
            elif step == "fmt.double_space":
                text = _double_space(text) if "  " in text else text
            elif step == "fmt.leading_whitespace":
                text = text.lstrip()
            elif step == "fmt.trailing_whitespace":
                text = text.rstrip()
        out.append({"role": msg.role, "content": text})
    return out
