"""The inference worker publishes each answer while it grows; the playground's reads get it back in order.

The worker side (`generation.generation_execute`, whatever the serving backend) writes the finished
answers and the one so far on the request row (fenced on the row still running, refreshing its heartbeat); the read side
(`selectors.generations`) turns the row into what the page shows. A real tiny model checks that what
is published grows token by token and ends as the same answer a plain generation gives.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from serving.models import GenerationRequest, GenerationStatus
from serving.selectors import generations as watch_selectors
from serving.services import generation
from serving.services.backends import WorkerBackend
from serving.services.reaper import reap_generations
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.serving.adapter_helpers import CHAT
from tests.serving.scripted_backend import Scripted, finished

pytestmark = pytest.mark.django_db

PARAMS = {"max_new_tokens": 16, "temperature": 0.0, "top_p": 1.0, "seed": 0}
TWO_TARGETS = [{"adapter_id": None, "label": "Base model"}, {"adapter_id": None, "label": "Base again"}]


@pytest.fixture
def queued(project, owner, base_model):
    def make(targets=TWO_TARGETS) -> GenerationRequest:
        return GenerationRequest.objects.create(
            project=project, base_model=base_model, messages=CHAT, targets=targets, params=PARAMS, created_by=owner
        )

    return make


def page_read(row: GenerationRequest):
    """What the playground's poll reads: the columns and the state line's facts."""
    return watch_selectors.generation_watch(watch_selectors.generation_get_watched(row.project, row.pk))


def test_partial_text_is_published_and_read_back_in_order(queued):
    row = queued()
    seen = []

    def answer(report):
        label = "first" if not seen else "second"
        words = ["One", "One two", "One two three"] if label == "first" else ["Four", "Four five"]
        for text in words:
            report(text, len(text.split()))
            watch = page_read(row)  # as the page would see it right now
            seen.append(
                (watch.generation.status, [(c.state, c.output["text"] if c.output else None) for c in watch.columns])
            )
        return finished(words[-1] + ".", len(words), 0.5)

    assert generation.generation_execute(row.pk, Scripted(answer)) == "succeeded"
    assert seen == [
        ("running", [("writing", "One"), ("waiting", None)]),
        ("running", [("writing", "One two"), ("waiting", None)]),
        ("running", [("writing", "One two three"), ("waiting", None)]),
        ("running", [("done", "One two three."), ("writing", "Four")]),
        ("running", [("done", "One two three."), ("writing", "Four five")]),
    ]
    watch = page_read(row)
    assert watch.generation.status == "succeeded"
    assert [(c.state, c.output["text"]) for c in watch.columns] == [("done", "One two three."), ("done", "Four five.")]
    assert [c.tokens_per_second for c in watch.columns] == [6.0, 4.0]
    assert all("partial" not in output for output in watch.generation.outputs)
    assert [(o["finish_reason"], o["prompt_tokens"]) for o in watch.generation.outputs] == [("stop", 5)] * 2
    assert watch.elapsed is not None
    assert watch.elapsed >= 0


def test_each_write_refreshes_the_heartbeat_and_a_failed_request_takes_no_more_text(queued, settings):
    row = queued()
    beats = []

    def answer(report):
        GenerationRequest.objects.filter(pk=row.pk).update(heartbeat_at=Now() - timedelta(hours=1))
        beats.append(GenerationRequest.objects.get(pk=row.pk).heartbeat_at)
        report("Hello", 1)
        beats.append(GenerationRequest.objects.get(pk=row.pk).heartbeat_at)
        # Meanwhile the reaper took the worker for dead: what it writes next lands nowhere.
        settings.ANNOTUNE_GENERATE_SILENT_SECONDS = 0
        GenerationRequest.objects.filter(pk=row.pk).update(heartbeat_at=Now() - timedelta(seconds=5))
        assert reap_generations()["stale"] == [row.pk]
        report("Hello there", 2)
        return finished("Hello there!", 3, 0.1)

    assert generation.generation_execute(row.pk, Scripted(answer)) == "cancelled"
    row.refresh_from_db()
    assert beats[1] - beats[0] > timedelta(minutes=59)  # the write beat: fresh, not the hour-old value
    assert (row.status, row.error_code) == ("failed", "worker_lost")
    assert row.outputs[0]["text"] == "Hello"  # the reaper's failure keeps the text so far, and only it
    assert "stopped before it finished" in row.error


def test_a_failure_mid_answer_keeps_the_text_so_far_with_the_reason(queued):
    from serving.inference.errors import InferenceError

    row = queued()

    def answer(report):
        report("Half an", 2)
        raise InferenceError("The base model ran out of memory.")

    assert generation.generation_execute(row.pk, Scripted(answer)) == "failed"
    watch = page_read(row)
    assert (watch.generation.status, watch.generation.error) == ("failed", "The base model ran out of memory.")
    assert [(c.state, c.output and c.output["text"]) for c in watch.columns] == [
        ("stopped", "Half an"),
        ("missing", None),
    ]


def test_a_silent_running_request_is_failed_by_the_reaper_and_a_beating_one_is_kept(queued, settings):
    settings.ANNOTUNE_GENERATE_SILENT_SECONDS = 60
    silent, beating = queued(), queued()
    GenerationRequest.objects.filter(pk__in=[silent.pk, beating.pk]).update(status="running", started_at=Now())
    GenerationRequest.objects.filter(pk=silent.pk).update(heartbeat_at=Now() - timedelta(seconds=90))
    GenerationRequest.objects.filter(pk=beating.pk).update(heartbeat_at=Now() - timedelta(seconds=5))
    assert reap_generations()["stale"] == [silent.pk]
    silent.refresh_from_db()
    beating.refresh_from_db()
    assert (silent.status, silent.error_code) == ("failed", "worker_lost")
    assert beating.status == "running"


def test_a_quiet_worker_is_named_on_the_page_before_the_reaper_acts(queued):
    row = queued()
    GenerationRequest.objects.filter(pk=row.pk).update(
        status="running", started_at=Now() - timedelta(seconds=50), heartbeat_at=Now() - timedelta(seconds=45)
    )
    watch = page_read(row)
    assert watch.quiet_for is not None
    assert watch.quiet_for >= 44
    assert "No word from the inference worker for 4" in watch.note
    GenerationRequest.objects.filter(pk=row.pk).update(heartbeat_at=Now())
    assert page_read(row).note == ""


def test_what_a_queued_request_waits_for(queued, project, owner, base_model):
    first, second, mine = queued(), queued(), queued()
    GenerationRequest.objects.filter(pk=first.pk).update(status="running", started_at=Now())
    watch = page_read(mine)
    assert (watch.ahead, watch.note) == (2, "Waiting for the inference worker: 2 requests ahead.")
    assert watch.poll_ms == watch_selectors.POLL_QUEUED_MS
    GenerationRequest.objects.filter(pk__in=[first.pk, second.pk]).update(status=GenerationStatus.SUCCEEDED)
    assert page_read(mine).note == "Waiting for the inference worker."
    GenerationRequest.objects.filter(pk=mine.pk).update(created_at=mine.created_at - timedelta(minutes=1))
    assert "no worker has taken this request" in page_read(mine).note


def test_a_real_tiny_model_publishes_its_answer_as_it_grows(queued, monkeypatch, tiny_model_dir):
    from serving.inference.cache import BaseModelCache

    monkeypatch.setattr(generation, "STREAM_INTERVAL_SECONDS", 0.0)  # every token that adds stable text
    row = queued([{"adapter_id": None, "label": "Base model"}])
    published: list[str] = []
    report = generation.AnswerPublisher.report

    def spy(self, text, new_tokens):
        report(self, text, new_tokens)
        published.append(page_read(row).columns[0].output["text"])

    monkeypatch.setattr(generation.AnswerPublisher, "report", spy)
    cache = BaseModelCache()
    assert generation.generation_execute(row.pk, WorkerBackend(cache)) == "succeeded"
    row.refresh_from_db()
    final = row.outputs[0]
    plain = cache.generate(str(tiny_model_dir), CHAT, **PARAMS)
    assert final["text"] == plain.text  # streaming changes nothing in the answer
    assert final["new_tokens"] == plain.new_tokens
    assert len(set(published)) >= 2, published  # seen growing, not only at the end
    for before, after in zip(published, published[1:], strict=False):
        assert after.startswith(before)
        assert len(after) >= len(before)
    assert final["text"].startswith(published[-1])
    assert final["finish_reason"] in ("stop", "length")


def test_chat_text_reads_back_as_the_same_conversation():
    one = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my parcel?"}]
    assert generation.chat_text(one) == ("Be brief.", "Where is my parcel?")
    turns = [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "It ships on Monday."},
        {"role": "user", "content": "And the invoice?\nThe second line."},
    ]
    system, text = generation.chat_text(turns)
    assert system == ""
    assert generation.parse_chat_text(text) == turns
    looks_like_turns = [{"role": "user", "content": "User: hi"}]
    assert generation.parse_chat_text(generation.chat_text(looks_like_turns)[1]) == looks_like_turns
