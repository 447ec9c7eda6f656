""" "Draft all": an owner asks the project's model to answer every example waiting for an answer; the
inference worker's task (run in this process here, on a real tiny model, as the single drafts' tests run
it) writes each answer into the example's assistant turn with a kept draft, so the editor says "Drafted by
…"; it stops at the next example when cancelled, goes on where it stopped after its reaper re-queued it,
one batch at a time per project, and only owners start it (outsiders learn nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import tasks as annotation_tasks
from annotation.models import DraftBatch, Example, ExampleDraft, Revision
from annotation.services import draft_batches
from annotation.services import examples as example_services
from serving.services.backends import current_backend
from serving.tasks import model_cache
from tests.serving.adapter_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


def prompt(n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Where is parcel {n}?"}]


@pytest.fixture
def waiting(project, annotator):
    """Three prompts waiting for an answer, and one answered example (never drafted)."""
    examples = [
        example_services.example_create(project=project, author=annotator, messages=prompt(n)) for n in range(3)
    ]
    example_services.example_create(
        project=project, author=annotator, messages=[*prompt(9), {"role": "assistant", "content": "On its way."}]
    )
    return examples


def start(client, project):
    return client.post(reverse("draft-batch-start", args=[project.pk]))


def test_the_owner_drafts_every_waiting_example_with_the_active_adapter(
    client_as, project, owner, annotator, waiting, make_adapter, adapter_dirs
):
    adapter = make_adapter("support-v2", adapter_dirs["a"], is_active=True)
    client = client_as(owner)
    listing = client.get(reverse("example-list", args=[project.pk])).content.decode()
    assert listing.count("awaiting answer") == 3
    assert "Draft all waiting answers" in listing

    response = start(client, project)
    batch = DraftBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("draft-batch", args=[project.pk, batch.pk])
    assert (batch.status, batch.total, batch.adapter, batch.adapter_name) == ("queued", 3, adapter, "support-v2")
    page = client.get(response["Location"]).content.decode()
    assert "0 of 3 drafted" in page
    assert 'hx-trigger="every 1s"' in page
    assert "Cancel drafting" in page

    assert annotation_tasks.draft_batch.run(batch.pk) == "succeeded"
    assert annotation_tasks.draft_batch.run(batch.pk) == "skipped"  # a second delivery: nothing to do

    batch.refresh_from_db()
    assert (batch.status, batch.done + batch.failed, batch.attempts) == ("succeeded", 3, 1)
    drafts = {d.example_id: d for d in ExampleDraft.objects.filter(batch=batch)}
    assert len(drafts) == batch.done
    for example in waiting:
        example.refresh_from_db()
        if example.pk not in drafts:  # the random model said nothing: listed with the reason
            assert {"example": example.pk, "reason": "The model's answer was empty; write this one yourself."} in (
                batch.failures
            )
            continue
        draft = drafts[example.pk]
        assert example.messages == [*prompt(waiting.index(example)), {"role": "assistant", "content": draft.text}]
        assert (draft.turn_index, draft.prompt, draft.adapter, draft.requested_by) == (
            1,
            example.messages[:1],
            adapter,
            owner,
        )
        assert draft.base_model_name == "tiny-llama"
        assert not example.awaits_answer
        assert example.version == 2
        assert (
            Revision.objects.get(example=example, version=2).note == f"drafted by support-v2 (draft batch {batch.pk})"
        )
    assert batch.done >= 1, batch.failures  # a random model is rarely silent three times in a row
    # The annotator corrects a draft in the editor, which says who drafted it.
    drafted = Example.objects.get(pk=next(iter(drafts)))
    page = client_as(annotator).get(reverse("example-edit", args=[project.pk, drafted.pk])).content.decode()
    assert "Drafted by support-v2 — unchanged" in page
    done = client.get(reverse("draft-batch-progress", args=[project.pk, batch.pk])).content.decode()
    assert f"{batch.done} of 3 drafted" in done
    assert "every 1s" not in done  # finished: no more polling


def test_cancel_stops_at_the_next_example_and_keeps_the_drafts_so_far(
    client_as, project, owner, waiting, base_model, storage
):
    client = client_as(owner)
    start(client, project)
    batch = DraftBatch.objects.get()
    assert batch.adapter_name == "Base model"
    real = current_backend(model_cache)

    class CancelAfterFirst:
        """The real backend; after its first answer the owner presses Cancel (as the page would)."""

        worker, inline = real.worker, real.inline

        def answer(self, **kwargs):
            answer = real.answer(**kwargs)
            if not DraftBatch.objects.filter(pk=batch.pk, cancel_requested=True).exists():
                response = client.post(reverse("draft-batch-cancel", args=[project.pk, batch.pk]))
                assert response.status_code == 302
            return answer

    assert draft_batches.batch_run(batch.pk, CancelAfterFirst()) == "cancelled"
    batch.refresh_from_db()
    assert batch.status == "cancelled"
    assert batch.done + batch.failed == 1
    assert [e.pk for e in Example.objects.order_by("pk") if e.awaits_answer] == [e.pk for e in waiting[1:]]
    page = client.get(reverse("draft-batch", args=[project.pk, batch.pk])).content.decode()
    assert "Cancelled: the drafts written before it stopped stay" in page
    assert "Cancel drafting" not in page
    # The project may draft again: the next batch takes the two left.
    start(client, project)
    assert DraftBatch.objects.exclude(pk=batch.pk).get().total == 2


def test_a_queued_batch_cancelled_is_never_taken(client_as, project, owner, waiting, base_model):
    client = client_as(owner)
    start(client, project)
    batch = DraftBatch.objects.get()
    client.post(reverse("draft-batch-cancel", args=[project.pk, batch.pk]))
    batch.refresh_from_db()
    assert batch.status == "cancelled"
    assert draft_batches.batch_run(batch.pk, current_backend(model_cache)) == "skipped"
    assert not ExampleDraft.objects.exists()


def test_a_batch_whose_worker_died_is_queued_again_and_goes_on_where_it_stopped(
    client_as, project, owner, waiting, base_model, storage, settings, django_capture_on_commit_callbacks
):
    start(client_as(owner), project)
    batch = DraftBatch.objects.get()
    # The first worker took it, drafted the first example, then died (no heartbeat since).
    mine = draft_batches.work.claim(DraftBatch, batch.pk)
    first = waiting[0]
    example_services.example_update(
        example=first, user=owner, version=1, messages=[*prompt(0), {"role": "assistant", "content": "By hand."}]
    )
    silent = timezone.now() - timedelta(seconds=settings.ANNOTUNE_DRAFT_BATCH_STALE_SECONDS + 60)
    mine.update(cursor=first.pk, done=1, heartbeat_at=silent)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        reaped = draft_batches.reap_batches()
    assert reaped["requeued"] == [batch.pk]
    assert len(sent) == 1  # its task, sent again
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("queued", 1)
    assert "stopped reporting" in batch.phase

    assert annotation_tasks.draft_batch.run(batch.pk) == "succeeded"
    batch.refresh_from_db()
    assert (batch.attempts, batch.done + batch.failed) == (2, 3)
    assert not ExampleDraft.objects.filter(example=first).exists()  # not drafted twice
    assert ExampleDraft.objects.filter(batch=batch).count() == batch.done - 1


def test_one_batch_at_a_time_and_only_owners_start_it(
    client_as, project, owner, reviewer, annotator, outsider, waiting, base_model
):
    for member in (annotator, reviewer):
        assert start(client_as(member), project).status_code == 403
    listing = client_as(annotator).get(reverse("example-list", args=[project.pk])).content.decode()
    assert "Draft all waiting answers" not in listing
    assert start(client_as(outsider), project).status_code == 404
    assert not DraftBatch.objects.exists()

    client = client_as(owner)
    start(client, project)
    batch = DraftBatch.objects.get()
    again = start(client, project)
    assert again["Location"] == reverse("example-list", args=[project.pk])
    page = client.get(again["Location"]).content.decode()
    assert f"Draft batch {batch.pk} is still queued: one batch drafts a project&#x27;s examples at a time" in page
    assert f"Follow draft batch {batch.pk}" in page
    assert DraftBatch.objects.count() == 1

    url = reverse("draft-batch", args=[project.pk, batch.pk])
    assert client_as(annotator).get(url).status_code == 200  # members follow it
    assert "Cancel drafting" not in client_as(annotator).get(url).content.decode()
    assert client_as(annotator).post(reverse("draft-batch-cancel", args=[project.pk, batch.pk])).status_code == 403
    assert client_as(outsider).get(url).status_code == 404
    assert client_as(outsider).post(reverse("draft-batch-cancel", args=[project.pk, batch.pk])).status_code == 404
    batch.refresh_from_db()
    assert (batch.status, batch.cancel_requested) == ("queued", False)


def test_nothing_waiting_or_no_model_is_refused_saying_why(client_as, project, owner, annotator):
    client = client_as(owner)
    example_services.example_create(project=project, author=annotator, messages=prompt(1))
    page = client.get(start(client, project)["Location"]).content.decode()
    assert "This project has no base model yet" in page
    Example.objects.all().delete()
    from training.models import BaseModel

    project.base_model = BaseModel.objects.create(name="tiny", source="/models/tiny")
    project.save()
    page = client.get(start(client, project)["Location"]).content.decode()
    assert "No example waits for an answer" in page
    assert not DraftBatch.objects.exists()
