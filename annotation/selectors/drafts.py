"""Reads for drafting in the editor: a draft while the worker writes it, and the drafts kept with an example.

`draft_progress` is what the editor's short poll answers: the draft's state, its text so far, the turn it
fills and, in plain words, what it waits for or why it failed (the playground's watch of the same
generation request, `serving.selectors.generations`, told for one answer).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from django.http import Http404

from serving.models import GenerationRequest, GenerationStatus
from serving.selectors import generations as watch_selectors

from ..models import Example, ExampleDraft, Project

NO_WORKER = (
    "No inference worker is running, it seems: nothing is ahead of this draft, yet none has taken it. Start "
    "one (make run starts one), or cancel and write the answer yourself."
)
ADAPTER_DELETED = " Draft again: the project's model as it is now will answer."


def draft_get(*, project: Project, user, request_id: Any) -> GenerationRequest:
    """The user's own generation request in the project (with the database's now, for its elapsed time);
    Http404 for any other id: someone else's draft is as unknown as one that does not exist."""
    found = watch_selectors.generation_get_watched(project, request_id)
    if found.created_by_id != user.pk:
        raise Http404("No such draft.")
    return found


@dataclass
class DraftProgress:
    """One draft as the editor shows it. `state`: the request's status (queued, running, succeeded,
    failed, cancelled); `turn`: the index of the assistant turn it fills."""

    generation: GenerationRequest
    state: str
    text: str
    turn: int
    label: str
    note: str = ""  # queued: what it waits for; running: a worker gone quiet
    error: str = ""  # failed or cancelled: why, in words the viewer may read
    elapsed: float | None = None

    @property
    def done(self) -> bool:
        return self.generation.is_done

    @property
    def poll_ms(self) -> int:
        return (
            watch_selectors.POLL_QUEUED_MS if self.state == GenerationStatus.QUEUED else watch_selectors.POLL_RUNNING_MS
        )


def draft_progress(generation: GenerationRequest, *, staff: bool = False) -> DraftProgress:
    """The state of a draft fetched by `draft_get` (`staff`: a failure's recorded detail is shown)."""
    watch = watch_selectors.generation_watch(generation, staff=staff)
    column = watch.columns[0] if watch.columns else None
    output = column.output if column else None
    progress = DraftProgress(
        generation=generation,
        state=generation.status,
        text=str(output["text"]) if output else "",
        turn=len(generation.messages),
        label=column.label if column else "",
        error=watch.error,
        elapsed=watch.elapsed,
    )
    if generation.status == GenerationStatus.QUEUED:
        nothing_else = not (watch.ahead or watch.evaluations or watch.training)
        untaken = (watch.elapsed or 0) >= watch_selectors.UNTAKEN_SECONDS
        progress.note = NO_WORKER if nothing_else and untaken else watch_selectors.queue_note(watch)
    elif generation.status == GenerationStatus.RUNNING:
        progress.note = watch.note
    if generation.error_code == "adapter_deleted":
        progress.error += ADAPTER_DELETED
    return progress


@dataclass(frozen=True)
class DraftNote:
    """What became of the latest draft of one turn: `state` "unchanged" (kept as the model wrote it),
    "edited", or "question changed" (the turns before it no longer ask what the draft answered)."""

    adapter_name: str
    state: str

    def __str__(self) -> str:
        return f"Drafted by {self.adapter_name} — {self.state}"


def plain(text: str) -> str:
    """Text as an annotator sees it: a browser sends line breaks as CRLF and a draft may end in spaces."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def draft_state(messages: list[dict[str, str]], draft: ExampleDraft) -> str:
    """ "unchanged", "edited" or "question changed": what `messages` made of the draft (see `DraftNote`)."""
    turn = draft.turn_index
    if messages[:turn] != draft.prompt:
        return "question changed"
    if plain(str(messages[turn].get("content") or "")) == plain(draft.text):
        return "unchanged"
    return "edited"


def latest_drafts(example: Example, messages: list[dict[str, str]]) -> dict[int, ExampleDraft]:
    """turn → the latest draft kept for it, for the turns `messages` has."""
    latest: dict[int, ExampleDraft] = {}
    drafts = ExampleDraft.objects.filter(example=example).only("turn_index", "prompt", "text", "adapter_name")
    for draft in drafts.order_by("turn_index", "-id"):
        if draft.turn_index < len(messages):
            latest.setdefault(draft.turn_index, draft)
    return latest


def draft_notes(example: Example | None, messages: list[dict[str, str]] | None = None) -> dict[int, DraftNote]:
    """The latest kept draft of each turn against `messages` (the turns shown; default: the example's)."""
    if example is None or example.pk is None:
        return {}
    messages = example.messages if messages is None else messages
    return {
        turn: DraftNote(adapter_name=draft.adapter_name, state=draft_state(messages, draft))
        for turn, draft in latest_drafts(example, messages).items()
    }


def drafter(project: Project) -> str:
    """Who answers "Draft answer" in this project, in words, or "" when nothing can (no base model yet):
    the active adapter, as the playground's default, else the base model."""
    from serving.services.generation import active_adapter

    adapter = active_adapter(project)
    if adapter is not None:
        return f"adapter “{adapter.name}”"
    if project.base_model_id is None:
        return ""
    return f"base model “{project.base_model.name}”"


# Words and single punctuation marks, each with the spaces after it: a diff of these reads as a reviewer reads
# a change (spaces as tokens of their own made difflib ten times slower: thousands of equal tokens).
DIFF_TOKENS = re.compile(r"\w+\s*|[^\w\s]\s*|\s+")


@dataclass(frozen=True)
class DiffPart:
    """A run of the diff between a draft and the final answer: `op` "equal", "insert" (only in the final
    answer) or "delete" (only in the draft). `text` is untrusted: templates escape it."""

    op: str
    text: str


# Past this many changed tokens on a side, the changed middle shows as one deletion and one insertion:
# difflib's matching grows with the product of both sides (2,000 words with every 50th changed: 0.7 s;
# 10,000: a minute).
DIFF_MAX_CHANGED_TOKENS = 1500


def word_diff(draft: str, final: str) -> list[DiffPart]:
    """The word-level difference from `draft` to `final` (difflib), consecutive runs merged.

    The common start and end are cut first (the usual correction changes a few words of a long answer);
    a changed middle longer than DIFF_MAX_CHANGED_TOKENS is shown whole, deleted then inserted."""
    old, new = DIFF_TOKENS.findall(draft), DIFF_TOKENS.findall(final)
    parts: list[DiffPart] = []

    def add(op: str, tokens: list[str]) -> None:
        if not tokens:
            return
        if parts and parts[-1].op == op:
            parts[-1] = DiffPart(op, parts[-1].text + "".join(tokens))
        else:
            parts.append(DiffPart(op, "".join(tokens)))

    start = 0
    while start < len(old) and start < len(new) and old[start] == new[start]:
        start += 1
    end = 0
    while end < len(old) - start and end < len(new) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    old_middle, new_middle = old[start : len(old) - end], new[start : len(new) - end]
    add("equal", old[:start])
    if max(len(old_middle), len(new_middle)) > DIFF_MAX_CHANGED_TOKENS:
        add("delete", old_middle)
        add("insert", new_middle)
    else:
        matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                add("equal", old_middle[i1:i2])
            else:  # replace is a deletion then an insertion
                add("delete", old_middle[i1:i2])
                add("insert", new_middle[j1:j2])
    add("equal", old[len(old) - end :])
    return parts


@dataclass(frozen=True)
class DraftDiff:
    """The latest draft of one turn beside the answer the example holds now. `parts` is empty when the
    question changed after the draft (the two answers answer different questions)."""

    turn: int
    note: DraftNote
    parts: list[DiffPart]


def draft_diffs(example: Example | None) -> list[DraftDiff]:
    """For each drafted turn of the example, in turn order, what a reviewer compares: draft and final."""
    if example is None or example.pk is None:
        return []
    found = []
    for turn, draft in sorted(latest_drafts(example, example.messages).items()):
        note = DraftNote(adapter_name=draft.adapter_name, state=draft_state(example.messages, draft))
        final = plain(str(example.messages[turn].get("content") or ""))
        parts = [] if note.state == "question changed" else word_diff(plain(draft.text), final)
        found.append(DraftDiff(turn=turn, note=note, parts=parts))
    return found
