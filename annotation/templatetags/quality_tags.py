"""Findings display shared by the editor, the example page and the review screen."""

from __future__ import annotations

from django import template

from ..services.validation import display_findings

register = template.Library()


@register.inclusion_tag("annotation/quality/_findings.html", takes_context=True)
def show_findings(context, findings, messages, mode: str = "review", fix_url: str = "", verify_url: str = ""):
    """`mode`: "editor" (Fix buttons post the form to `fix_url`), "review" (verify-claim forms when
    `verify_url` is given) or "plain"."""
    return {
        "items": display_findings(findings or [], messages or []),
        "mode": mode,
        "fix_url": fix_url,
        "verify_url": verify_url,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def check_title(code) -> str:
    """A check code's title for the page ("fmt.empty_turn" -> "Empty turn"); the code goes in a tooltip."""
    from validators import check_title as title

    return title(str(code or ""))
