"""The editor's "Draft answer": ask the project's model for the next answer, watch it grow, cancel it.

Each answers the editor's `#draft-status` with `annotation/_draft.html` (htmx): a refusal with what to
fix (400), a cap reached (429 with Retry-After), or the draft's state and text so far, which polls
itself until the draft is done. The editor's script puts the text into the assistant turn.

"Draft all" (`batch_*`): owners start it from the examples list or an import's page; its page follows the
batch on the inference worker and cancels it.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotune.errors import ApplicationError, retry_headers
from training.services import model_sources

from .. import permissions
from ..forms import messages_from_post
from ..models import Example
from ..selectors import draft_batches as batch_selectors
from ..selectors import drafts as draft_selectors
from ..selectors import examples as example_selectors
from ..services import draft_batches as batch_services
from ..services import drafts as draft_services


def _progress(request, project, generation, *, status: int = 200):
    progress = draft_selectors.draft_progress(generation, staff=model_sources.is_staff(request.user))
    return render(request, "annotation/_draft.html", {"project": project, "draft": progress}, status=status)


@login_required
@require_POST
def draft_start(request, project_id: int, example_id: int | None = None):
    """Queue the draft of the answer after the last user turn of the posted (unsaved) turns."""
    project = permissions.project_for(request.user, project_id)
    example = None
    if example_id is not None:
        try:
            example = example_selectors.example_detail(project, example_id)
        except Example.DoesNotExist:
            raise Http404("No such example in this project.") from None
    try:
        generation = draft_services.draft_request(
            project=project, user=request.user, messages=messages_from_post(request.POST), example=example
        )
    except ApplicationError as exc:
        refused = render(
            request, "annotation/_draft.html", {"project": project, "refusal": exc}, status=exc.status_code
        )
        for name, value in retry_headers(exc).items():
            refused[name] = value
        return refused
    return _progress(
        request, project, draft_selectors.draft_get(project=project, user=request.user, request_id=generation.pk)
    )


@login_required
@require_GET
def draft_poll(request, project_id: int, request_id: int):
    """The editor's short poll: the draft so far, answered at once."""
    project = permissions.project_for(request.user, project_id)
    return _progress(
        request, project, draft_selectors.draft_get(project=project, user=request.user, request_id=request_id)
    )


@login_required
@require_POST
def draft_cancel(request, project_id: int, request_id: int):
    project = permissions.project_for(request.user, project_id)
    generation = draft_services.draft_cancel(project=project, user=request.user, request_id=request_id)
    return _progress(request, project, generation)


# -- "Draft all": every example waiting for an answer, drafted by the inference worker ----------------------


def _batch_context(request, project_id: int, batch_id: int) -> dict:
    project = permissions.project_for(request.user, project_id)
    return {
        "project": project,
        "batch": batch_selectors.batch_get(project, batch_id),
        "can_cancel": permissions.can_draft_all(request.user, project),
    }


@login_required
@require_POST
def batch_start(request, project_id: int):
    """Queue "Draft all" and open its page; a refusal goes back to the examples list, saying why."""
    project = permissions.project_for(request.user, project_id)
    try:
        batch = batch_services.batch_start(project=project, user=request.user)
    except ApplicationError as exc:
        flash.error(request, exc.message)
        return redirect("example-list", project_id=project.pk)
    return redirect("draft-batch", project_id=project.pk, batch_id=batch.pk)


@login_required
@require_GET
def batch_detail(request, project_id: int, batch_id: int):
    """The batch: how many drafted, how many could not be, a cancel button while it runs."""
    return render(request, "annotation/draft_batch.html", _batch_context(request, project_id, batch_id))


@login_required
@require_GET
def batch_progress(request, project_id: int, batch_id: int):
    """htmx: the batch's panel, polled while it is queued or running."""
    return render(request, "annotation/_draft_batch.html", _batch_context(request, project_id, batch_id))


@login_required
@require_POST
def batch_cancel(request, project_id: int, batch_id: int):
    context = _batch_context(request, project_id, batch_id)
    batch_services.batch_cancel(batch=context["batch"], user=request.user)
    return redirect("draft-batch", project_id=project_id, batch_id=batch_id)
