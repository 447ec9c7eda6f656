"""Dataset-level checks run when a version is created (the validators feature fills this in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotation.models import Project


def empty_report() -> dict[str, Any]:
    return {"errors": [], "warnings": [], "info": [], "checks": []}


def run_dataset_checks(examples: Sequence[dict[str, Any]], project: Project) -> dict[str, Any]:
    """Check the examples about to become a version; return a report.

    `examples`: dicts with id, messages, category, style_tags, context, content_hash and split
    ("train" / "validation"). The report has lists of findings under "errors", "warnings" and
    "info" (each a Finding dict: code, severity, message, location, suggestion, evidence) and the
    names of the checks that ran under "checks". Any entry in "errors" blocks the version unless
    an owner gives an override reason. For now no check runs: the report is empty.
    """
    return empty_report()
