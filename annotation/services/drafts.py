"""Drafting an answer in the editor with the project's model, and keeping the draft with the example.

The editor asks for the next assistant turn of the conversation so far (`draft_request`): the project's
active adapter answers it, or the base model when the project has none. It is an ordinary generation
request (`serving.services.generation`), so it waits on the inference worker, is answered through the
serving backend, counts against the user's generation caps and can be cancelled like the playground's.

The draft is kept (`draft_keep`) when the editor saves the example with the request's id: its text is
copied from the GenerationRequest row the worker answered, never taken from the browser, and only when
the saved conversation still asks what the draft answered (a draft is evidence about that prompt only).
"""

from __future__ import annotations

from typing import Any

from annotune.errors import ApplicationError
from serving.models import Adapter, GenerationRequest, GenerationStatus
from serving.services import generation

from .. import permissions
from ..models import Example, ExampleDraft, Project
from ..selectors import drafts as draft_selectors

# Long enough for a typical support answer; the generation settings' own cap still applies.
DRAFT_MAX_NEW_TOKENS = 256
# Greedy decoding: the adapter's most likely answer, the one its accepted share should be judged on.
DRAFT_PARAMS = {"max_new_tokens": DRAFT_MAX_NEW_TOKENS, "temperature": 0.0, "top_p": 1.0, "seed": 0}
CANCELLED = "You cancelled this draft; the text so far stays in the answer for you to edit."
# At most this many drafts are kept with one save (one per drafted turn; a page never sends more).
MAX_KEPT_PER_SAVE = 20


def draft_prompt(messages: Any) -> tuple[list[dict[str, str]], int]:
    """The turns up to the last user turn with text, and the index of the assistant turn a draft fills.

    Refuses (ApplicationError) a conversation with no user text to answer, and one whose answer after the
    last user turn already has text: a draft never overwrites what the annotator wrote."""
    turns = [t for t in messages if isinstance(t, dict)] if isinstance(messages, list) else []
    last_user = max(
        (i for i, t in enumerate(turns) if t.get("role") == "user" and str(t.get("content") or "").strip()),
        default=None,
    )
    if last_user is None:
        raise ApplicationError(
            "Write the user's turn first: the model drafts the answer to it.", {"messages": ["No user turn to answer."]}
        )
    after = turns[last_user + 1 :]
    if any(str(t.get("content") or "").strip() for t in after):
        raise ApplicationError(
            "The answer after the last user turn already has text, and a draft never replaces what you wrote. "
            "Clear that answer (or add a new user turn) to draft one.",
            {"messages": ["The answer to draft is not empty."]},
        )
    return turns[: last_user + 1], last_user + 1


def draft_request(*, project: Project, user, messages: Any, example: Example | None = None) -> GenerationRequest:
    """Queue the draft of the next assistant turn of `messages` (the editor's unsaved turns).

    `example`: the example being edited (None: a new one). Only those who may edit it (or, for a new
    example, write examples in the project) may draft: PermissionDenied otherwise."""
    if example is None:
        permissions.require(permissions.can_annotate(user, project), "You cannot write examples here.")
    else:
        if example.status not in permissions.EDITABLE_STATUSES:
            raise ApplicationError(
                f"This example is {example.get_status_display().lower()}; it can't be edited now, so there is "
                "nothing to draft."
            )
        permissions.require(
            permissions.can_edit_example(user, example), "Only the author or a project owner can draft answers here."
        )
    prompt, _ = draft_prompt(messages)
    adapter = generation.active_adapter(project)
    return generation.generation_request(
        project=project,
        user=user,
        messages=prompt,
        targets=[adapter.pk if adapter else None],
        params=DRAFT_PARAMS,
    )


def draft_cancel(*, project: Project, user, request_id: Any) -> GenerationRequest:
    """Stop drafting (a queued draft is never taken, a running one stops at the next token, keeping the
    text so far). A draft that ended meanwhile stays as it ended."""
    found = draft_selectors.draft_get(project=project, user=user, request_id=request_id)
    generation.generation_cancel(found.pk, code="cancelled", message=CANCELLED)
    return draft_selectors.draft_get(project=project, user=user, request_id=request_id)


def draft_keep(*, example: Example, user, generation_id: Any) -> ExampleDraft:
    """Keep the answered draft `generation_id` with the example just saved (inside the save's transaction).

    The text comes from the request row the worker wrote. Refused (ApplicationError, nothing written) when
    the id is not the user's own answered single-answer request in the example's project, or when the
    saved conversation no longer asks what the draft answered. Keeping the same draft again returns it."""
    try:
        pk = int(generation_id)
    except (TypeError, ValueError):
        raise ApplicationError("That draft is unknown.", {"draft_generation": ["Not a draft id."]}) from None
    request = (
        GenerationRequest.objects.select_related("base_model")
        .filter(pk=pk, project_id=example.project_id, created_by_id=user.pk)
        .first()
        if 0 < pk < 2**63
        else None
    )
    if request is None or len(request.targets) != 1 or len(request.outputs or []) != 1:
        raise ApplicationError("That draft is unknown.", {"draft_generation": ["No such draft."]})
    if request.status != GenerationStatus.SUCCEEDED:
        raise ApplicationError("That draft was not finished, so it was not kept.", {"draft_generation": ["Not done."]})
    prompt, turn = list(request.messages), len(request.messages)
    messages = example.messages
    if messages[:turn] != prompt or len(messages) <= turn or messages[turn]["role"] != "assistant":
        raise ApplicationError(
            "The model's draft was not kept with the example: the conversation before the answer changed "
            "after it was drafted.",
            {"draft_generation": ["Prompt changed."]},
        )
    target, output = request.targets[0], request.outputs[0]
    adapter_id = target.get("adapter_id")
    draft, _ = ExampleDraft.objects.get_or_create(
        generation=request,
        defaults={
            "example": example,
            "turn_index": turn,
            "prompt": prompt,
            "text": str(output.get("text") or ""),
            "adapter": Adapter.objects.filter(pk=adapter_id).first() if adapter_id else None,
            "adapter_name": str(target.get("label") or "")[:200],
            "base_model_name": request.base_model.name[:200],
            "params": request.params,
            "finish_reason": str(output.get("finish_reason") or "")[:20],
            "requested_by": user,
            "requested_at": request.created_at,
        },
    )
    if draft.example_id != example.pk:
        raise ApplicationError("That draft belongs to another example.", {"draft_generation": ["Another example."]})
    return draft


def drafts_keep(*, example: Example, user, generation_ids: list[str]) -> list[str]:
    """Keep each draft the save names (`draft_keep`); what could not be kept, in plain words, for a note.

    A draft that cannot be kept never refuses the save: the annotator's text is what matters."""
    notes: list[str] = []
    for generation_id in list(dict.fromkeys(generation_ids))[:MAX_KEPT_PER_SAVE]:
        if not str(generation_id).strip():
            continue
        try:
            draft_keep(example=example, user=user, generation_id=generation_id)
        except ApplicationError as exc:
            notes.append(exc.message)
    return notes
