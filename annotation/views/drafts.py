"""The editor's "Draft answer": ask the project's model for the next answer, watch it grow, cancel it.

Each answers the editor's `#draft-status` with `annotation/_draft.html` (htmx): a refusal with what to
fix (400), a cap reached (429 with Retry-After), or the draft's state and text so far, which polls
itself until the draft is done. The editor's script puts the text into the assistant turn.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from annotune.errors import ApplicationError, retry_headers
from training.services import model_sources

from .. import permissions
from ..forms import messages_from_post
from ..models import Example
from ..selectors import drafts as draft_selectors
from ..selectors import examples as example_selectors
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
