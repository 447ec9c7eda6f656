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


FIELD_LABELS = {
    "messages": "Conversation",
    "category": "Category",
    "style_tags": "Style tags",
    "context": "Context passage",
    "version": "Version",
    "findings": "Checks",
    "reason": "Reason",
    "comment": "Comment",
    "action": "Action",
    "ids": "Examples",
}


@register.filter
def words(code) -> str:
    """A stored code in words for the page: "off_topic" -> "off topic", "changes_requested" -> "changes
    requested". The code itself belongs in a tooltip (`title`) or the API, not on screen."""
    return str(code or "").replace("_", " ").strip()


@register.filter
def field_label(name) -> str:
    """The label a form shows for a field name an error names ("style_tags" -> "Style tags")."""
    name = str(name or "")
    return FIELD_LABELS.get(name) or words(name).capitalize()


@register.filter
def method_label(code) -> str:
    """A training method's name ("qlora" -> "QLoRA (4-bit base)")."""
    from training.models import Method

    return str(Method(code).label) if code in Method.values else words(code)


@register.filter
def field_labels(names) -> str:
    """A revision's changed fields in words: ["messages", "style_tags"] -> "conversation, style tags"."""
    return ", ".join(field_label(n).lower() for n in names or [])


@register.filter
def revision_note(note) -> str:
    """A revision's note in words: "fix: fmt.double_space" (what the fix service records) -> "fix: Doubled spaces"."""
    from validators import check_title

    note = str(note or "")
    if note.startswith("fix: "):
        return "fix: " + check_title(note[len("fix: ") :])
    return note
