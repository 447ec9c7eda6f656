"""Preference pairs from corrected drafts, recorded when an example is approved.

When an approved example has a kept draft (`ExampleDraft`) for one of its assistant turns and the approved
answer differs from it, the reviewer and the annotator together said which answer is better: the approved
one (`chosen`) over the model's (`rejected`), for the conversation before that turn. Each such pair is a
`PreferencePair` row, exported with the blind evaluations' judgments as DPO data.

Only the latest draft of each turn counts (the one the annotator last saw, as the editor's draft note), and
only while the approved conversation still asks what it answered. The review service calls
`preference_pairs_record` inside the approval's transaction, once the example is approved; a pair always
reflects the latest approval (see `PreferencePair`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from validators.edit_distance import normalised_distance

from ..models import DraftOutcome, Example, ExampleDraft, PreferencePair, Revision
from ..selectors.drafts import plain


def latest_drafts_of(example_ids: Iterable[int]) -> dict[int, dict[int, ExampleDraft]]:
    """example id → turn index → the latest draft kept for that turn."""
    found: dict[int, dict[int, ExampleDraft]] = {}
    drafts = ExampleDraft.objects.filter(example_id__in=list(example_ids)).order_by("example_id", "turn_index", "-id")
    for draft in drafts:
        found.setdefault(draft.example_id, {}).setdefault(draft.turn_index, draft)
    return found


def draft_outcome(messages: list[dict], draft: ExampleDraft) -> tuple[str, str]:
    """What the approved `messages` made of the draft, and the approved answer (as plain text; "" when the
    conversation no longer asks what the draft answered)."""
    turn = draft.turn_index
    if turn >= len(messages) or messages[turn].get("role") != "assistant" or messages[:turn] != draft.prompt:
        return DraftOutcome.QUESTION_CHANGED, ""
    approved = plain(str(messages[turn].get("content") or ""))
    return (DraftOutcome.UNCHANGED if approved == plain(draft.text) else DraftOutcome.EDITED), approved


def preference_pairs_record(*, example: Example, approved_by, drafts: dict[int, ExampleDraft] | None = None) -> int:
    """Record (or bring up to date) the pairs of the example just approved; the number it now has.

    `example`: the approved row with the messages approved. Each latest draft gets its outcome (and edit
    distance) for the drafting flywheel; older drafts of a turn get none. Pairs of this example that the
    approval no longer supports (draft kept unchanged this time, question changed, a newer draft) are removed."""
    if drafts is None:
        drafts = latest_drafts_of([example.pk]).get(example.pk, {})
    if not drafts:
        return 0
    editor_id = (
        Revision.objects.filter(example_id=example.pk).order_by("-version").values_list("author_id", flat=True).first()
    )
    now = timezone.now()
    kept: list[int] = []
    ExampleDraft.objects.filter(example_id=example.pk).exclude(pk__in=[d.pk for d in drafts.values()]).exclude(
        approved_outcome=""
    ).update(approved_outcome="", approved_distance=None)
    for turn, draft in sorted(drafts.items()):
        outcome, chosen = draft_outcome(example.messages, draft)
        rejected = plain(draft.text)
        distance = normalised_distance(rejected, chosen) if outcome == DraftOutcome.EDITED else None
        if outcome == DraftOutcome.UNCHANGED:
            distance = 0.0
        ExampleDraft.objects.filter(pk=draft.pk).update(approved_outcome=outcome, approved_distance=distance)
        if outcome != DraftOutcome.EDITED:
            continue
        PreferencePair.objects.update_or_create(
            draft=draft,
            defaults={
                "project_id": example.project_id,
                "example_id": example.pk,
                "turn_index": turn,
                "prompt": [{"role": m["role"], "content": m["content"]} for m in draft.prompt],
                "chosen": chosen,
                "rejected": rejected,
                "edit_distance": distance,
                "adapter_id": draft.adapter_id,
                "adapter_name": draft.adapter_name,
                "corrected_by_id": editor_id or example.author_id,
                "approved_by": approved_by,
                "approved_at": now,
            },
        )
        kept.append(draft.pk)
    PreferencePair.objects.filter(example=example).exclude(draft_id__in=kept).delete()
    return len(kept)


def preference_pairs_record_many(*, example_ids: list[int], approved_by) -> int:
    """`preference_pairs_record` for examples approved together (an owner's bulk approval); only those with
    kept drafts are read."""
    drafts = latest_drafts_of(example_ids)
    if not drafts:
        return 0
    examples = Example.objects.filter(pk__in=list(drafts)).only("pk", "project_id", "author_id", "messages")
    return sum(
        preference_pairs_record(example=example, approved_by=approved_by, drafts=drafts[example.pk])
        for example in examples
    )
