"""Scanning a page for snake_case codes a person would read (tests of "words, not codes").

Codes (check codes, reason codes, statuses, field names) may appear inside `<code>` elements and in
`title` attributes (tooltips), which are not text nodes; every other text node is scanned, and the
placeholder and aria-label attributes too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
# Text in these is not prose: code, scripts, chart data, and what users typed into a text area.
SKIPPED = {"code", "script", "style", "template", "textarea"}


class TextScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED:
            self.depth += 1
        for name, value in attrs:
            if name in ("placeholder", "aria-label") and value:
                self.found += [f"{name}: {m}" for m in SNAKE.findall(value)]

    def handle_endtag(self, tag):
        if tag in SKIPPED and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.found += SNAKE.findall(data)


def snake_codes(html: str) -> list[str]:
    """The snake_case words of `html` outside `<code>`, scripts, text areas and `title` attributes."""
    scan = TextScan()
    scan.feed(html)
    return scan.found
