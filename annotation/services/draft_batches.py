""" "Draft all": the project's model answers every example that waits for an answer, on the inference worker.

An example waits for an answer when it is a draft whose conversation ends with the user's turn (a prompt
imported without its answer, or one written so). `batch_start` (owners) queues a `DraftBatch` for the
project's active adapter, or its base model when it has none, one batch at a time per project. The worker
(`batch_run`, from the `inference` queue's task) claims it and, example by example in id order, asks the
serving backend for the answer (`serving.services.backends`: the seam every generated answer goes
through), writes it into the example's assistant turn with the editor's own save (`example_update`: a
revision, the checks' findings, optimistic locking) and keeps an `ExampleDraft` row, so the editor says
"Drafted by …" and the annotator's corrections count as for a single draft. It beats while it works, stops
before the next example once cancelled, and its reaper (`reap_batches`, in ANNOTUNE_REAPERS) queues it
again when its worker died; the next attempt goes on after the last example handled (`cursor`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotune import dispatch, work
from annotune.errors import ApplicationError
from annotune.heartbeat import beating

from .. import permissions
from ..models import DraftBatch, DraftBatchStatus, Example, ExampleDraft, ExampleStatus, Project
from . import examples as example_services
from .drafts import DRAFT_PARAMS

log = logging.getLogger(__name__)

BASE_MODEL_LABEL = "Base model"
ACTIVE = (DraftBatchStatus.QUEUED, DraftBatchStatus.RUNNING)
# The page lists this many examples that could not be drafted (the count covers them all).
FAILURES_LISTED = 20
# Examples read from the database at a time while drafting.
CHUNK = 50


def waiting_examples(project: Project, *, after: int = 0, upto: int | None = None) -> Iterator[Example]:
    """The project's draft examples waiting for an answer, by id, after `after` (and up to `upto`).

    Which ones wait is told by their last turn, read in Python: a JSON path differs per database, and this
    runs when a batch starts or drafts, never on a page."""
    rows = Example.objects.filter(project=project, status=ExampleStatus.DRAFT, pk__gt=after)
    if upto is not None:
        rows = rows.filter(pk__lte=upto)
    for example in rows.select_related("project").defer("search_text", "findings").order_by("pk").iterator(CHUNK):
        if example.awaits_answer:
            yield example


def active_batch(project: Project) -> DraftBatch | None:
    return DraftBatch.objects.filter(project=project, status__in=ACTIVE).first()


def batch_start(*, project: Project, user) -> DraftBatch:
    """Queue "Draft all" for the project (owners; one batch at a time). Refused with what to do when
    another batch is still running, no model can answer, or no example waits for an answer."""
    from serving.services.generation import active_adapter, refuse_unservable

    permissions.require(
        permissions.can_draft_all(user, project), "Only project owners can draft all waiting examples at once."
    )
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        running = active_batch(project)
        if running is not None:
            raise ApplicationError(
                f"Draft batch {running.pk} is still {running.get_status_display().lower()}: one batch drafts a "
                "project's examples at a time. Wait for it to finish, or cancel it.",
                {"batch": [str(running.pk)]},
            )
        adapter = active_adapter(project)
        if adapter is not None:
            refuse_unservable([adapter])
        base_model = adapter.base_model if adapter is not None else project.base_model
        if base_model is None:
            raise ApplicationError("This project has no base model yet; choose one in the project settings.")
        last = Example.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True).first() or 0
        total = sum(1 for _ in waiting_examples(project, upto=last))
        if not total:
            raise ApplicationError(
                "No example waits for an answer: drafting all answers examples whose conversation ends with "
                "the user's turn. Import prompts without answers, or write them, first."
            )
        batch = DraftBatch.objects.create(
            project=project,
            created_by=user,
            adapter=adapter,
            adapter_name=adapter.name if adapter is not None else BASE_MODEL_LABEL,
            base_model=base_model,
            total=total,
            last_example_id=last,
            phase="waiting for the inference worker",
        )
        from ..tasks import draft_batch

        dispatch.send_on_commit(draft_batch, batch.pk, on_failure=lambda: _note_broker_down(batch))
    return batch


def _note_broker_down(batch: DraftBatch) -> None:
    """The batch stays queued (the reaper sends it again); its page says why it waits."""
    DraftBatch.objects.filter(pk=batch.pk, status=DraftBatchStatus.QUEUED).update(phase=dispatch.BROKER_DOWN_NOTE)


def batch_cancel(*, batch: DraftBatch, user) -> DraftBatch:
    """Stop the batch: a queued one ends now, a running one after the example it is drafting. The drafts
    written so far stay. A batch that ended meanwhile stays as it ended."""
    permissions.require(permissions.can_draft_all(user, batch.project), "Only project owners can cancel drafting.")
    now = timezone.now()
    DraftBatch.objects.filter(pk=batch.pk, status=DraftBatchStatus.QUEUED).update(
        status=DraftBatchStatus.CANCELLED, phase="", finished_at=now, cancel_requested=True
    )
    DraftBatch.objects.filter(pk=batch.pk, status=DraftBatchStatus.RUNNING).update(
        cancel_requested=True, phase="stopping after the example it is drafting"
    )
    batch.refresh_from_db()
    return batch


# -- the worker side ---------------------------------------------------------------------------------


def batch_run(batch_id: int, backend) -> str:
    """Claim the batch and draft its waiting examples through `backend` (a `ServingBackend`); returns how
    it ended ("succeeded", "cancelled", "failed"), or "skipped" when it was not queued."""
    mine = work.claim(DraftBatch, batch_id, phase="loading the model")
    if mine is None:
        return "skipped"
    batch = DraftBatch.objects.select_related("project", "created_by", "adapter", "base_model").get(pk=batch_id)
    try:
        with beating(mine, settings.ANNOTUNE_JOB_HEARTBEAT_SECONDS):
            outcome = _draft_all(batch, mine, backend)
    except Exception as exc:
        log.exception("draft batch %s failed", batch_id)
        mine.update(
            status=DraftBatchStatus.FAILED,
            phase="",
            error=f"Drafting stopped on an unexpected error ({type(exc).__name__}); the drafts written so far "
            "stay. Start it again to draft the rest.",
            finished_at=timezone.now(),
        )
        return "failed"
    return outcome


def _draft_all(batch: DraftBatch, mine, backend) -> str:
    from serving.inference.errors import InferenceError
    from serving.services.backends import Decoding

    if (batch.adapter is None and batch.adapter_name != BASE_MODEL_LABEL) or batch.base_model is None:
        mine.update(
            status=DraftBatchStatus.FAILED,
            phase="",
            error=f"“{batch.adapter_name}” was deleted, so nothing more was drafted. Start again: the project's "
            "model as it is now will answer.",
            finished_at=timezone.now(),
        )
        return "failed"
    decoding = Decoding.from_params(DRAFT_PARAMS)
    for example in waiting_examples(batch.project, after=batch.cursor, upto=batch.last_example_id):
        if DraftBatch.objects.filter(pk=batch.pk, cancel_requested=True).exists():
            mine.update(status=DraftBatchStatus.CANCELLED, phase="", finished_at=timezone.now())
            return "cancelled"
        mine.update(phase=f"drafting example {example.pk}")
        try:
            answer = backend.answer(
                base_model=batch.base_model, adapter=batch.adapter, messages=example.messages, decoding=decoding
            )
            _keep(batch, example, answer)
        except (ApplicationError, InferenceError, PermissionDenied) as exc:
            reason = exc.message if isinstance(exc, ApplicationError | InferenceError) else str(exc)
            if not mine.update(cursor=example.pk, failed=F("failed") + 1):
                return "superseded"
            _note_failure(batch, example.pk, reason)
            continue
        if not mine.update(cursor=example.pk, done=F("done") + 1):
            return "superseded"  # the reaper gave the batch to a later attempt meanwhile
    mine.update(status=DraftBatchStatus.SUCCEEDED, phase="", finished_at=timezone.now())
    return "succeeded"


@transaction.atomic
def _keep(batch: DraftBatch, example: Example, answer: Any) -> ExampleDraft:
    """Write the answer into the example's assistant turn (the editor's save, as the batch's owner) and
    keep the draft beside it. An empty answer, an example edited meanwhile or no longer the owner's to
    edit is refused (ApplicationError / PermissionDenied), and nothing of it is written."""
    if not answer.text.strip():
        raise ApplicationError("The model's answer was empty; write this one yourself.")
    prompt = list(example.messages)
    example_services.example_update(
        example=example,
        user=batch.created_by,
        version=example.version,
        messages=[*prompt, {"role": "assistant", "content": answer.text}],
        note=f"drafted by {batch.adapter_name} (draft batch {batch.pk})"[:200],
    )
    return ExampleDraft.objects.create(
        example=example,
        turn_index=len(prompt),
        prompt=prompt,
        text=answer.text,
        adapter=batch.adapter,
        adapter_name=batch.adapter_name[:200],
        base_model_name=batch.base_model.name[:200],
        params=DRAFT_PARAMS,
        finish_reason=answer.finish_reason[:20],
        requested_by=batch.created_by,
        requested_at=batch.created_at,
        batch=batch,
    )


def _note_failure(batch: DraftBatch, example_id: int, reason: str) -> None:
    failures = DraftBatch.objects.filter(pk=batch.pk).values_list("failures", flat=True).get()
    if len(failures) < FAILURES_LISTED:
        DraftBatch.objects.filter(pk=batch.pk).update(failures=[*failures, {"example": example_id, "reason": reason}])


def reap_batches() -> dict[str, list[int]]:
    """Batches whose worker died: queued again (the next attempt goes on after the last example handled),
    or failed after the last attempt; lost messages sent again."""
    from ..tasks import draft_batch

    return work.reap_stale(
        DraftBatch,
        task=draft_batch,
        stale_after=settings.ANNOTUNE_DRAFT_BATCH_STALE_SECONDS,
        what="draft batch",
        requeued=lambda reason: {"phase": f"{reason}; queued again"},
        failed=lambda reason, limit: {
            "phase": "",
            "error": f"{reason}, the last of {limit}; the drafts written so far stay. Start it again to draft "
            "the rest.",
        },
        queue="inference",
    )
