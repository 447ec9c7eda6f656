"""Reads for drafting in the editor: a draft while the worker writes it, and the drafts kept with an example.

`draft_progress` is what the editor's short poll answers: the draft's state, its text so far, the turn it
fills and, in plain words, what it waits for or why it failed (the playground's watch of the same
generation request, `serving.selectors.generations`, told for one answer).
"""

from __future__ import annotations

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


def draft_notes(example: Example | None, messages: list[dict[str, str]] | None = None) -> dict[int, DraftNote]:
    """The latest kept draft of each turn against `messages` (the turns shown; default: the example's)."""
    if example is None or example.pk is None:
        return {}
    messages = example.messages if messages is None else messages
    notes: dict[int, DraftNote] = {}
    drafts = ExampleDraft.objects.filter(example=example).only("turn_index", "prompt", "text", "adapter_name")
    for draft in drafts.order_by("turn_index", "-id"):
        turn = draft.turn_index
        if turn in notes or turn >= len(messages):
            continue
        if messages[:turn] != draft.prompt:
            state = "question changed"
        elif plain(str(messages[turn].get("content") or "")) == plain(draft.text):
            state = "unchanged"
        else:
            state = "edited"
        notes[turn] = DraftNote(adapter_name=draft.adapter_name, state=state)
    return notes


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
