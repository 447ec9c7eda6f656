"""The project's preference export: every preference the team expressed, as DPO data in one file.

Two origins, each row labelled (`origin`): annotators' and reviewers' corrections of the model's drafts
(`annotation.PreferencePair`, "draft_correction") and the decisive judgments of the project's blind
pairwise evaluations ("blind_evaluation"). Rows are JSON lines in TRL's conversational preference format
(`annotation.selectors.preferences.PreferenceRow`).
"""

from __future__ import annotations

from collections.abc import Iterator

from annotation.models import Project
from annotation.selectors.preferences import BLIND_EVALUATION, ORIGINS, draft_correction_rows, jsonl
from annotune.errors import ApplicationError

from .evaluations import project_judgment_pairs


def clean_origin(value: object) -> str | None:
    """The `origin` filter: empty for every origin, else one of `ORIGINS`."""
    if value in (None, ""):
        return None
    if value not in ORIGINS:
        raise ApplicationError(
            f"Unknown preference origin {str(value)[:50]!r}.",
            {"origin": [f"Leave it out for every origin, or use one of: {', '.join(ORIGINS)}."]},
        )
    return str(value)


def project_preference_lines(project: Project, origin: str | None = None) -> Iterator[str]:
    """The export, a JSON line at a time: draft corrections first, then each evaluation's judgments."""
    if origin in (None, "draft_correction"):
        yield from (jsonl(row) for row in draft_correction_rows(project))
    if origin in (None, BLIND_EVALUATION):
        yield from (jsonl(row) for row in project_judgment_pairs(project))


def project_preference_filename(project: Project, origin: str | None) -> str:
    return f"project-{project.pk}-preferences{f'-{origin}' if origin else ''}.jsonl"
