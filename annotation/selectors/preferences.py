"""Reads of preference pairs from corrected drafts, as rows of the project's preference export.

One row shape for every origin (`PreferenceRow`): TRL's conversational preference format, which its
`DPOTrainer` reads as it is (`prompt`: the messages before the answer, `chosen` / `rejected`: one assistant
message each), plus `origin`, which says where the preference came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TypedDict

from ..models import PreferenceOrigin, PreferencePair, Project

BLIND_EVALUATION = "blind_evaluation"  # the origin of a blind pairwise evaluation's judgment
ORIGINS = (PreferenceOrigin.DRAFT_CORRECTION.value, BLIND_EVALUATION)


class Message(TypedDict):
    role: str
    content: str


class PreferenceRow(TypedDict):
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    origin: str


def preference_row(prompt: list, chosen: str, rejected: str, origin: str) -> PreferenceRow:
    return {
        "prompt": [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "origin": origin,
    }


def jsonl(row: PreferenceRow) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def draft_correction_rows(project: Project) -> Iterator[PreferenceRow]:
    """The project's corrected drafts, oldest pair first (rows streamed, never all held)."""
    pairs = PreferencePair.objects.filter(project=project).order_by("id")
    for prompt, chosen, rejected in pairs.values_list("prompt", "chosen", "rejected").iterator(chunk_size=500):
        yield preference_row(prompt, chosen, rejected, PreferenceOrigin.DRAFT_CORRECTION.value)
