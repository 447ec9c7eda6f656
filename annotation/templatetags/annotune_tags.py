"""Template helpers: markdown rendered to sanitised HTML, status badges."""

from __future__ import annotations

import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import mark_safe

register = template.Library()

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "del",
}


@register.filter
def markdown(text: str) -> str:
    """Markdown to HTML, then sanitised: user-written guidelines never run script or style."""
    html = markdown_lib.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"])
    clean = nh3.clean(
        html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"}
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above


@register.filter
def get_item(mapping, key):
    if isinstance(mapping, dict):
        return mapping.get(key, "")
    return ""


RANDOM_WEIGHTS_NOTE = "test model: random weights, answers are noise"


@register.inclusion_tag("_random_weights.html")
def random_weights_note(base_model):
    """A badge next to a base model that has random weights (a tiny test model): its answers mean nothing."""
    return {"show": bool(getattr(base_model, "has_random_weights", False)), "note": RANDOM_WEIGHTS_NOTE}
