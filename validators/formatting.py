"""Formatting checks: whitespace, line endings, invisible characters, mojibake, markup balance,
leaked chat-template tokens, empty turns, role order, list and heading style."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import ftfy
from ftfy.badness import BADNESS_RE

from validators.base import MAX_PER_CODE, Check
from validators.findings import Finding, Location
from validators.inputs import ExampleInput, ProjectSpec
from validators.registry import make_finding

# -- patterns, compiled once -------------------------------------------------------------------------
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Zero-width space, word joiner, BOM, soft hyphen, Mongolian vowel separator; ZWNJ/ZWJ only next to Latin
# text (they are meaningful inside emoji sequences and in Persian, Indic scripts).
ZERO_WIDTH_RE = re.compile(
    "[\u200b\u2060\ufeff\u00ad\u180e]|(?<=[\x00-\u024f])[\u200c\u200d]|[\u200c\u200d](?=[\x00-\u024f])"
)
TEMPLATE_TOKEN_RE = re.compile(
    r"<\|(?:im_start|im_end|im_sep|eot_id|eom_id|start_header_id|end_header_id|begin_of_text|end_of_text"
    r"|endoftext|system|user|assistant|end|python_tag|fim_prefix|fim_middle|fim_suffix)\|>"
    r"|^[ \t]*###[ \t]*(?:Response|Instruction|Input|Assistant|Human)[ \t]*:"
    r"|\[/?INST\]|<</?SYS>>|</?s>|<(?:start|end)_of_turn>|<\|?(?:bos|eos|pad|unk)\|?>",
    re.MULTILINE,
)
FENCE_RE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})[ \t]*([^\n`]*)$", re.MULTILINE)
INLINE_CODE_RE = re.compile(r"(`+)[^`\n]+?\1")
DOUBLE_SPACE_RE = re.compile(r"(?<=[^\s|]) {2,}(?=[^\s|])")
TAG_RE = re.compile(
    r"(?:(?<![\w<])<|<(?=/))(/?)([A-Za-z][A-Za-z0-9:-]*)"
    r"((?:\s+[^\s<>=/\"']+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'<>=`]+))?)*)\s*(/?)>"
)
HTML_TAGS = frozenset(
    """a abbr address article aside audio b bdi bdo blockquote body button canvas caption cite code dd del
    details dfn dialog div dl dt em fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header html i
    iframe ins kbd label legend li main mark nav noscript object ol optgroup option output p picture pre q rp rt
    ruby samp script section select small span strong style sub summary sup svg table tbody td template textarea
    tfoot th thead time title tr u ul var video""".split()
)
VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr s".split()
)  # "s" is reported as a template token
BRACKET_RE = re.compile(r"[()\[\]{}]")
EMOTICON_RE = re.compile(r"(?<![\w])[:;=8xX][-^'o]?[()\[\]{}]|[()\[\]{}][-^']?[:;=](?![\w])")
ENUM_CLOSER_RE = re.compile(r"(?:^|(?<=\s))(?:\d{1,3}|[A-Za-z]|[ivxIVX]{1,4})\)")
BULLET_RE = re.compile(r"^[ \t]*([-*+])[ \t]+\S", re.MULTILINE)
HR_RE = re.compile(r"^[ ]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
ATX_RE = re.compile(r"^[ ]{0,3}#{1,6}[ \t]+\S", re.MULTILINE)
SETEXT_RE = re.compile(r"^[ ]{0,3}\S[^\n]*\n[ ]{0,3}(?:=+|-{2,})[ \t]*$", re.MULTILINE)
BOLD_HEADING_RE = re.compile(r"^[ ]{0,3}\*\*[^*\n]{1,80}\*\*:?[ \t]*$", re.MULTILINE)
HEADING_STYLES = ("atx", "setext", "bold")
QUOTE_CHARS = frozenset('"\u201c\u201d')


@dataclass(frozen=True, slots=True)
class StyleProfile:
    """The project's majority list marker and heading style (see `style_profile`)."""

    list_marker: str | None
    heading_style: str | None
    list_counts: dict[str, int]
    heading_counts: dict[str, int]


# -- helpers ------------------------------------------------------------------------------------------
def code_spans(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(spans covered by code: fenced blocks and inline code, unclosed fences as (start, line end))."""
    spans: list[tuple[int, int]] = []
    unclosed: list[tuple[int, int]] = []
    if "```" in text or "~~~" in text:
        opening: re.Match[str] | None = None
        for m in FENCE_RE.finditer(text):
            if opening is None:
                opening = m
            elif (
                m.group(1)[0] == opening.group(1)[0]
                and len(m.group(1)) >= len(opening.group(1))
                and not m.group(2).strip()
            ):
                spans.append((opening.start(), m.end()))
                opening = None
        if opening is not None:
            spans.append((opening.start(), len(text)))
            unclosed.append((opening.start(1), opening.end()))
    if "`" in text:
        for m in INLINE_CODE_RE.finditer(text):
            if not any(s <= m.start() < e for s, e in spans):
                spans.append(m.span())
    return spans, unclosed


MASK_CHAR = "\ue000"  # private use: not a space, bracket, quote or marker


def mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Replace spans by a placeholder character (newlines kept) so prose checks skip code but offsets stay valid."""
    parts = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            start = last
        parts.append(text[last:start])
        parts.append(re.sub(r"[^\n]", MASK_CHAR, text[start:end]))
        last = max(last, end)
    parts.append(text[last:])
    return "".join(parts)


def heading_styles(prose: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    if "#" in prose:
        found.extend(("atx", m.start()) for m in ATX_RE.finditer(prose))
    if "==" in prose or "--" in prose:
        for m in SETEXT_RE.finditer(prose):
            first_line = prose[m.start() : prose.index("\n", m.start())]
            if not BULLET_RE.match(first_line) and not first_line.lstrip().startswith(("|", "#")):
                found.append(("setext", m.start()))
    if "**" in prose:
        found.extend(("bold", m.start()) for m in BOLD_HEADING_RE.finditer(prose))
    return found


def bullet_markers(prose: str) -> list[tuple[str, int]]:
    if "- " not in prose and "* " not in prose and "+ " not in prose:
        return []
    rules = {m.start() for m in HR_RE.finditer(prose)} if ("---" in prose or "* *" in prose or "***" in prose
                                                           or "- -" in prose) else set()  # fmt: skip
    out = []
    for m in BULLET_RE.finditer(prose):
        if m.start() in rules:
            continue
        out.append((m.group(1), m.start(1)))
    return out


def style_profile(examples: Iterable[ExampleInput]) -> StyleProfile:
    """Count list markers and heading styles over assistant replies; the majority becomes the project's."""
    lists: Counter[str] = Counter()
    headings: Counter[str] = Counter()
    for example in examples:
        for message in example.messages:
            if message.role != "assistant":
                continue
            spans, _ = code_spans(message.content)
            prose = mask(message.content, spans) if spans else message.content
            lists.update({marker for marker, _ in bullet_markers(prose)})
            headings.update({style for style, _ in heading_styles(prose)})
    return StyleProfile(
        list_marker=lists.most_common(1)[0][0] if lists else None,
        heading_style=headings.most_common(1)[0][0] if headings else None,
        list_counts=dict(lists),
        heading_counts=dict(headings),
    )


def _expand_to_word(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return start, end


class FormattingCheck(Check):
    name = "formatting"
    codes = (
        "fmt.empty_turn", "fmt.role_order", "fmt.template_token", "fmt.leading_whitespace",
        "fmt.trailing_whitespace", "fmt.double_space", "fmt.line_endings", "fmt.control_char", "fmt.zero_width",
        "fmt.mojibake", "fmt.unbalanced_tag", "fmt.unclosed_code_fence", "fmt.unbalanced_brackets",
        "fmt.unbalanced_quotes", "fmt.list_style", "fmt.heading_style",
    )  # fmt: skip

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        findings: list[Finding] = []
        findings.extend(self.role_order(example))
        for index, message in enumerate(example.messages):
            self.message(index, message.role, message.content, spec, findings)
        return findings

    # -- conversation shape -------------------------------------------------------------------------
    @staticmethod
    def role_order(example: ExampleInput) -> list[Finding]:
        out: list[Finding] = []
        messages = example.messages
        if not messages:
            return [make_finding("fmt.role_order", "The conversation has no messages.", None)]
        expected = "user"
        for index, message in enumerate(messages):
            role = message.role
            if role == "system":
                if index != 0:
                    out.append(
                        make_finding(
                            "fmt.role_order",
                            f"Message {index + 1} is a system message; only the first message may be one.",
                            Location(index),
                            evidence={"role": role},
                        )  # fmt: skip
                    )
                continue
            if role not in ("user", "assistant"):
                out.append(make_finding("fmt.role_order", f"Message {index + 1} has an unknown role {role!r}.",
                                        Location(index), evidence={"role": role}))  # fmt: skip
                continue
            if role != expected:
                out.append(
                    make_finding(
                        "fmt.role_order",
                        f"Message {index + 1} is {role!r} but should be {expected!r}: "
                        "user and assistant turns alternate, starting with the user.",
                        Location(index),
                        evidence={"role": role, "expected": expected},
                    )  # fmt: skip
                )
            expected = "assistant" if role == "user" else "user"
        last = len(messages) - 1
        if messages[last].role != "assistant" and not any(f.location == Location(last) for f in out):
            out.append(make_finding("fmt.role_order", "The conversation must end with an assistant turn.",
                                    Location(last), evidence={"role": messages[last].role}))  # fmt: skip
        return out

    # -- one message ----------------------------------------------------------------------------------
    def message(self, index: int, role: str, text: str, spec: ProjectSpec, out: list[Finding]) -> None:
        if not text or text.isspace():
            out.append(make_finding("fmt.empty_turn", f"Message {index + 1} ({role}) is empty.",
                                    Location(index, 0, len(text))))  # fmt: skip
            return
        n = len(text)
        if text[0].isspace():
            end = n - len(text.lstrip())
            out.append(make_finding("fmt.leading_whitespace", "The message starts with whitespace.",
                                    Location(index, 0, end), suggestion=""))  # fmt: skip
        if text[-1].isspace():
            start = len(text.rstrip())
            out.append(make_finding("fmt.trailing_whitespace", "The message ends with whitespace.",
                                    Location(index, start, n), suggestion=""))  # fmt: skip
        if "\r" in text:
            pos = text.index("\r")
            crlf = text.count("\r\n")
            bare_r = text.count("\r") - crlf
            bare_n = text.count("\n") - crlf
            kind = "mixed" if (crlf and (bare_n or bare_r)) or (bare_r and bare_n) else ("Windows" if crlf else "CR")
            out.append(make_finding("fmt.line_endings", f"{kind} line endings; use \\n.", Location(index, pos, pos + 1),
                                    suggestion="\n", evidence={"crlf": crlf, "cr": bare_r, "lf": bare_n}))  # fmt: skip
        ascii_only = text.isascii()
        control = CONTROL_RE.search(text)
        if control:
            for i, m in enumerate(CONTROL_RE.finditer(text)):
                if i >= MAX_PER_CODE:
                    break
                out.append(make_finding("fmt.control_char", f"Control character U+{ord(m.group()):04X}.",
                                        Location(index, m.start(), m.end()), suggestion="",
                                        evidence={"char": f"U+{ord(m.group()):04X}"}))  # fmt: skip
        if not ascii_only:
            for i, m in enumerate(ZERO_WIDTH_RE.finditer(text)):
                if i >= MAX_PER_CODE:
                    break
                out.append(make_finding("fmt.zero_width", f"Invisible character U+{ord(m.group()):04X}.",
                                        Location(index, m.start(), m.end()), suggestion="",
                                        evidence={"char": f"U+{ord(m.group()):04X}"}))  # fmt: skip
            bad = BADNESS_RE.search(text)
            if bad:
                fixed = ftfy.fix_encoding(text)
                if fixed != text:
                    start, end = _expand_to_word(text, bad.start(), bad.end())
                    out.append(make_finding("fmt.mojibake", "Broken encoding (mojibake).", Location(index, start, end),
                                            suggestion=ftfy.fix_encoding(text[start:end]),
                                            evidence={"text": text[start:end]}))  # fmt: skip
        if "<" in text or "[" in text or "#" in text:
            for i, m in enumerate(TEMPLATE_TOKEN_RE.finditer(text)):
                if i >= MAX_PER_CODE:
                    break
                token = m.group().strip()
                out.append(make_finding("fmt.template_token", f"Chat-template token {token!r} inside the text.",
                                        Location(index, m.start() + m.group().index(token), m.end()),
                                        suggestion="", evidence={"token": token}))  # fmt: skip

        spans, unclosed = code_spans(text) if "`" in text or "~~~" in text else ([], [])
        for start, end in unclosed:
            out.append(make_finding("fmt.unclosed_code_fence", "This code fence is never closed.",
                                    Location(index, start, end)))  # fmt: skip
        prose = mask(text, spans) if spans else text

        if "  " in prose:
            for i, m in enumerate(DOUBLE_SPACE_RE.finditer(prose)):
                if i >= MAX_PER_CODE:
                    break
                out.append(make_finding("fmt.double_space", "Doubled space.", Location(index, m.start(), m.end()),
                                        suggestion=" "))  # fmt: skip
        if "<" in prose:
            self.tags(index, prose, out)
        self.brackets(index, prose, out)
        if '"' in prose or not ascii_only:
            self.quotes(index, prose, out)
        if role == "assistant":
            self.style(index, prose, spec, out)

    @staticmethod
    def tags(index: int, prose: str, out: list[Finding]) -> None:
        stack: list[tuple[str, int, int]] = []
        problems: list[tuple[int, int, str]] = []
        matches = list(TAG_RE.finditer(prose))
        closed = {m.group(2).lower() for m in matches if m.group(1)}
        for m in matches:
            name = m.group(2).lower()
            if name in VOID_TAGS or m.group(4):
                continue
            if name not in HTML_TAGS and name not in closed:
                continue  # "<your password>" is a placeholder, not markup
            if not m.group(1):
                stack.append((name, m.start(), m.end()))
                continue
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == name:
                    for unclosed in stack[depth + 1 :]:
                        problems.append((unclosed[1], unclosed[2], f"<{unclosed[0]}> is never closed."))
                    del stack[depth:]
                    break
            else:
                problems.append((m.start(), m.end(), f"</{name}> closes a tag that was never opened."))
        problems.extend((start, end, f"<{name}> is never closed.") for name, start, end in stack)
        for start, end, text in sorted(problems)[:MAX_PER_CODE]:
            out.append(make_finding("fmt.unbalanced_tag", text, Location(index, start, end)))

    @staticmethod
    def brackets(index: int, prose: str, out: list[Finding]) -> None:
        if not BRACKET_RE.search(prose):
            return
        optional: set[int] = set()
        if ":" in prose or ";" in prose or "=" in prose or "8" in prose or "x" in prose.lower():
            for m in EMOTICON_RE.finditer(prose):
                optional.update(i for i in range(m.start(), m.end()) if prose[i] in "()[]{}")
        if ")" in prose:
            optional.update(m.end() - 1 for m in ENUM_CLOSER_RE.finditer(prose))
        pairs = {")": "(", "]": "[", "}": "{"}
        stack: list[tuple[str, int]] = []
        problems: list[tuple[int, str]] = []
        for m in BRACKET_RE.finditer(prose):
            char, pos = m.group(), m.start()
            if char in "([{":
                if pos in optional:
                    continue  # an emoticon like ":("
                stack.append((char, pos))
            elif stack and stack[-1][0] == pairs[char]:
                stack.pop()
            elif pos in optional:
                continue
            else:
                problems.append((pos, f"{char!r} has no opening {pairs[char]!r}."))
        problems.extend((pos, f"{char!r} is never closed.") for char, pos in stack)
        for pos, text in sorted(problems)[:MAX_PER_CODE]:
            out.append(make_finding("fmt.unbalanced_brackets", text, Location(index, pos, pos + 1)))

    @staticmethod
    def quotes(index: int, prose: str, out: list[Finding]) -> None:
        straight = prose.count('"')
        if straight % 2:
            pos = prose.rindex('"')
            out.append(make_finding("fmt.unbalanced_quotes", "Odd number of double quotes.",
                                    Location(index, pos, pos + 1)))  # fmt: skip
        if "\u201c" in prose or "\u201d" in prose:
            if "\u201e" in prose:  # German-style „...“ pairs: not checked
                return
            opens, closes = prose.count("\u201c"), prose.count("\u201d")
            if opens != closes:
                char = "\u201c" if opens > closes else "\u201d"
                pos = prose.rindex(char) if opens > closes else prose.index(char)
                out.append(make_finding("fmt.unbalanced_quotes", f"{opens} opening and {closes} closing curly "
                                        "quotes.", Location(index, pos, pos + 1)))  # fmt: skip

    @staticmethod
    def style(index: int, prose: str, spec: ProjectSpec, out: list[Finding]) -> None:
        markers = bullet_markers(prose)
        if markers:
            expected = spec.list_marker or Counter(m for m, _ in markers).most_common(1)[0][0]
            wrong = [(m, pos) for m, pos in markers if m != expected]
            if wrong:
                marker, pos = wrong[0]
                source = "the project's" if spec.list_marker else "this message's"
                out.append(
                    make_finding(
                        "fmt.list_style",
                        f"List item uses {marker!r}; {source} lists use {expected!r}.",
                        Location(index, pos, pos + 1),
                        suggestion=expected,
                        evidence={"found": marker, "expected": expected, "count": len(wrong)},
                    )
                )
        if "#" in prose or "**" in prose or "==" in prose or "--" in prose:
            styles = heading_styles(prose)
            if styles:
                expected = spec.heading_style or Counter(s for s, _ in styles).most_common(1)[0][0]
                wrong_h = [(s, pos) for s, pos in styles if s != expected]
                if wrong_h:
                    style, pos = min(wrong_h, key=lambda x: x[1])
                    end = prose.find("\n", pos)
                    out.append(make_finding("fmt.heading_style", f"Heading in {style} style; expected {expected}.",
                                            Location(index, pos, len(prose) if end < 0 else end),
                                            evidence={"found": style, "expected": expected}))  # fmt: skip


class MetadataCheck(Check):
    """Category and style tags against the project's declared ones."""

    name = "metadata"
    codes = ("meta.unknown_category", "meta.unknown_style_tag")

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        out: list[Finding] = []
        if spec.categories and example.category and example.category not in spec.categories:
            out.append(make_finding("meta.unknown_category", f"Category {example.category!r} is not declared.",
                                    evidence={"category": example.category,
                                              "declared": sorted(spec.categories)}))  # fmt: skip
        if spec.style_tags:
            declared = set(spec.style_tags)
            for tag in example.style_tags:
                if tag not in declared:
                    out.append(make_finding("meta.unknown_style_tag", f"Style tag {tag!r} is not declared.",
                                            evidence={"tag": tag}))  # fmt: skip
        return out
