"""Caps on generation work in flight (`training.services.quotas`) at every way of asking for answers.

Beyond a cap each entry point (the playground, the generate API, /v1/chat/completions, blind
evaluations) answers 429 with Retry-After and a sentence saying how many are in flight and what to do,
and nothing is queued. The worker leaves a request of a user already at their running cap queued and
sends it again; a web process lets only so many threads wait for answers at once; a request whose
client went away or was given up on is cancelled. Internal details of a failure reach staff only.
"""

from __future__ import annotations

import re
import socket

import pytest
from django.db.models.functions import Now

from annotune.errors import TooManyRequestsError
from evaluation.models import Evaluation, EvaluationStatus
from serving.models import GenerationRequest, GenerationStatus
from serving.openai_compat import services as openai_services
from serving.openai_compat.catalog import catalog
from serving.openai_compat.schema import parse_chat_request
from serving.services import generation
from serving.services.backends import WorkerBackend
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.serving.adapter_helpers import CHAT
from training.services import quotas

pytestmark = pytest.mark.django_db

PARAMS = {"max_new_tokens": 16, "temperature": 0.0, "top_p": 1.0, "seed": 0}


@pytest.fixture
def caps(settings):
    settings.ANNOTUNE_GENERATE_QUEUED_PER_USER = 2
    settings.ANNOTUNE_GENERATE_RUNNING_PER_USER = 1
    settings.ANNOTUNE_GENERATE_QUEUED_PER_PROJECT = 3
    settings.ANNOTUNE_GENERATE_WAITERS_PER_PROCESS = 2
    return settings


@pytest.fixture
def rows(project, base_model):
    """`rows(user, n, status)`: n generation requests of `user` in the project, in that status."""

    def make(user, n: int = 1, status: str = GenerationStatus.QUEUED) -> list[GenerationRequest]:
        made = [
            GenerationRequest.objects.create(
                project=project,
                base_model=base_model,
                messages=CHAT,
                targets=[{"adapter_id": None, "label": "Base model"}],
                params=PARAMS,
                created_by=user,
                status=status,
            )
            for _ in range(n)
        ]
        if status == GenerationStatus.RUNNING:
            GenerationRequest.objects.filter(pk__in=[r.pk for r in made]).update(started_at=Now(), heartbeat_at=Now())
        return made

    return make


def playground_post(client, project):
    return client.post(f"/projects/{project.pk}/playground/", {"conversation": "Where is my parcel?", "base": "1"})


def generate_api(api, user, project, **body):
    return api(user).post(f"/api/v1/projects/{project.pk}/generate", {"messages": CHAT, **body}, format="json")


def openai_post(api, user, **body):
    return api(user).post("/v1/chat/completions", {"model": "tiny-llama", "messages": CHAT, **body}, format="json")


# -- the caps at each entry point -----------------------------------------------------------------
def test_a_users_full_queue_is_refused_429_with_retry_after_at_every_entry_point(
    caps, client_as, api, owner, project, base_model, rows
):
    rows(owner, 2)
    before = GenerationRequest.objects.count()

    page = playground_post(client_as(owner), project)
    assert page.status_code == 429
    assert int(page["Retry-After"]) > 0
    text = page.content.decode()
    assert "You already have 2 requests waiting for the inference worker (at most 2 per person" in text
    assert 'title="queue: user_queue_full"' in text  # the code only in the tooltip, not on screen
    assert "user_queue_full" not in re.sub(r'title="[^"]*"', "", text)

    answer = generate_api(api, owner, project)
    assert answer.status_code == 429
    assert int(answer["Retry-After"]) > 0
    assert answer.json()["errors"] == {"queue": ["user_queue_full"]}
    assert "Wait until one of them is answered" in answer.json()["detail"]

    for stream in (False, True):
        refused = openai_post(api, owner, stream=stream)
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) > 0
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert "2 requests waiting" in refused.json()["error"]["message"]

    assert GenerationRequest.objects.count() == before  # nothing queued
    assert quotas.WAITERS.held == 0  # the refused /v1/ calls gave their waiting slot back


def test_an_evaluation_counts_as_one_waiting_request_and_is_refused_beyond_the_cap(
    caps, api, owner, project, base_model, rows, make_adapter, adapter_dirs
):
    adapter = make_adapter("Lawyer", adapter_dirs["a"])
    body = {"prompts": "Where is my parcel?\nAnd the invoice?", "adapters": [adapter.pk], "max_new_tokens": 8}
    created = api(owner).post(f"/api/v1/projects/{project.pk}/evaluations/", body, format="json")
    assert created.status_code == 201, created.json()
    rows(owner, 1)
    # The evaluation (queued) and the request fill the owner's two places: a third thing is refused.
    assert generate_api(api, owner, project).status_code == 429
    refused = api(owner).post(f"/api/v1/projects/{project.pk}/evaluations/", body, format="json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "send this evaluation again" in refused.json()["detail"]
    assert Evaluation.objects.count() == 1
    # Generating still counts; open for judging (answers done) no longer does.
    Evaluation.objects.update(status=EvaluationStatus.RUNNING)
    assert quotas.user_waiting(owner.pk) == 2
    Evaluation.objects.update(status=EvaluationStatus.OPEN)
    assert quotas.user_waiting(owner.pk) == 1
    assert generate_api(api, owner, project, timeout=0).status_code == 504  # queued; no worker in this test


def test_a_projects_full_queue_refuses_everyone_in_it(caps, api, owner, annotator, project, base_model, rows):
    rows(annotator, 2)
    rows(owner, 1)
    refused = generate_api(api, owner, project)  # the owner has one place left, the project none
    assert refused.status_code == 429
    assert refused.json()["errors"] == {"queue": ["project_queue_full"]}
    assert "This project's queue is full: 3 requests wait" in refused.json()["detail"]
    assert GenerationRequest.objects.count() == 3


def test_answered_cancelled_and_failed_requests_free_their_place(caps, api, owner, project, base_model, rows):
    done = rows(owner, 2)
    assert generate_api(api, owner, project).status_code == 429
    GenerationRequest.objects.filter(pk=done[0].pk).update(status=GenerationStatus.SUCCEEDED)
    GenerationRequest.objects.filter(pk=done[1].pk).update(status=GenerationStatus.CANCELLED)
    assert generate_api(api, owner, project, timeout=0).status_code == 504  # queued: nobody answers in this test


def test_with_vllm_a_request_runs_at_once_so_the_running_cap_is_checked_when_it_is_made(
    caps, api, owner, project, base_model, rows, settings
):
    settings.ANNOTUNE_INFERENCE_BACKEND = "vllm"
    settings.ANNOTUNE_VLLM_URL = "http://127.0.0.1:9"  # never reached: refused before
    rows(owner, 1, GenerationStatus.RUNNING)
    refused = generate_api(api, owner, project)
    assert refused.status_code == 429
    assert refused.json()["errors"] == {"queue": ["user_running_full"]}
    assert "1 answer being generated (at most 1 at once per person)" in refused.json()["detail"]
    assert openai_post(api, owner).status_code == 429
    assert GenerationRequest.objects.count() == 1


def test_caps_set_to_zero_are_off(settings, owner, project, base_model, rows):
    settings.ANNOTUNE_GENERATE_QUEUED_PER_USER = 0
    settings.ANNOTUNE_GENERATE_QUEUED_PER_PROJECT = 0
    rows(owner, 30)
    quotas.generation_admit(user=owner, project=project)  # no refusal


# -- the running cap, at the worker's claim ---------------------------------------------------------
def test_a_worker_leaves_a_request_queued_while_its_user_is_at_the_running_cap_and_sends_it_again(
    caps, owner, annotator, project, base_model, rows, monkeypatch
):
    from serving import tasks as serving_tasks

    rows(owner, 1, GenerationStatus.RUNNING)
    waiting, other = rows(owner, 1)[0], rows(annotator, 1)[0]
    assert generation.generation_claim(waiting.pk, worker="w").outcome == "deferred"
    assert generation.generation_claim(other.pk, worker="w").outcome == "claimed"  # another user's goes first
    assert generation.generation_claim(other.pk, worker="w").outcome == "skipped"  # claimed once

    sent = []
    monkeypatch.setattr(serving_tasks, "DEFER_PAUSE_SECONDS", 0)
    monkeypatch.setattr(serving_tasks.dispatch, "send", lambda task, *args: sent.append((task.name, args)))
    monkeypatch.setattr(serving_tasks, "model_cache", lambda: None)  # never reached: not claimed
    assert serving_tasks.generate_answers.run(waiting.pk) == "deferred"
    assert serving_tasks.generate_chat_completion.run(waiting.pk) == "deferred"
    assert sent == [
        ("training.tasks.generate_answers", (waiting.pk,)),
        ("training.tasks.generate_chat_completion", (waiting.pk,)),
    ]
    waiting.refresh_from_db()
    assert waiting.status == GenerationStatus.QUEUED
    GenerationRequest.objects.filter(created_by=owner, status=GenerationStatus.RUNNING).update(
        status=GenerationStatus.SUCCEEDED
    )
    assert generation.generation_claim(waiting.pk, worker="w").outcome == "claimed"


# -- the web threads that wait ----------------------------------------------------------------------
def test_a_process_lets_only_so_many_threads_wait_and_refuses_the_rest_before_queueing(
    caps, api, owner, project, base_model, settings
):
    settings.ANNOTUNE_GENERATE_WAITERS_PER_PROCESS = 1
    held = quotas.WAITERS.hold()  # another request of this process is waiting for its answer
    try:
        for stream in (False, True):
            refused = openai_post(api, owner, stream=stream)
            assert refused.status_code == 429
            assert int(refused["Retry-After"]) > 0
            assert "busy waiting for other answers" in refused.json()["error"]["message"]
        assert not GenerationRequest.objects.exists()
        # The generate API does not wait then: queued, answered 202 at once with where to poll.
        accepted = generate_api(api, owner, project)
        assert accepted.status_code == 202
        assert accepted.json()["status"] == "queued"
        assert accepted.json()["url"].endswith(f"/generations/{accepted.json()['id']}/")
        assert quotas.WAITERS.held == 1
    finally:
        held.release()
        held.release()  # twice is harmless
    assert quotas.WAITERS.held == 0


def test_a_streamed_body_holds_its_slot_until_the_server_closes_it(settings):
    settings.ANNOTUNE_GENERATE_WAITERS_PER_PROCESS = 1
    closed = []

    def events():
        try:
            yield b"one"
            yield b"two"
        finally:
            closed.append(True)

    body = quotas.HeldStream(events(), quotas.WAITERS.hold())
    assert next(body) == b"one"
    with pytest.raises(TooManyRequestsError):
        quotas.WAITERS.hold()
    body.close()  # the client went away after one chunk
    assert closed == [True]
    assert quotas.WAITERS.held == 0
    never_read = quotas.HeldStream(events(), quotas.WAITERS.hold())
    never_read.close()
    assert quotas.WAITERS.held == 0


def test_a_whole_answer_not_ready_in_time_is_a_504_and_is_cancelled(caps, api, owner, project, base_model, settings):
    settings.ANNOTUNE_GENERATE_TIMEOUT_SECONDS = 0.3
    timed_out = openai_post(api, owner)
    assert timed_out.status_code == 504
    assert timed_out.json()["error"]["code"] == "timeout"
    row = GenerationRequest.objects.get()
    assert (row.status, row.error_code) == ("cancelled", "timeout")  # no worker will answer it for nobody
    assert quotas.WAITERS.held == 0


# -- a client that went away -------------------------------------------------------------------------
def test_a_closed_connection_is_told_from_an_open_one():
    server, client = socket.socketpair()
    try:
        assert not quotas.socket_closed(server)
        client.sendall(b"GET / HTTP/1.1\r\n")  # a pipelined request: still there
        assert not quotas.socket_closed(server)
        server.recv(100)
        client.close()
        assert quotas.socket_closed(server)
        assert quotas.client_gone({"gunicorn.socket": server})
        assert not quotas.client_gone({})  # no socket to look at: cannot be told
    finally:
        server.close()


def test_a_waiting_call_whose_client_left_cancels_its_request(owner, project, base_model, rows):
    row = rows(owner, 1)[0]
    seen = generation.generation_wait(row, 5, gone=lambda: True)
    assert (seen.status, seen.error_code) == ("cancelled", "disconnected")
    assert seen.is_done


def test_a_stream_closed_before_its_end_cancels_its_request(caps, owner, project, base_model):
    params = parse_chat_request({"model": "tiny-llama", "messages": CHAT, "stream": True})
    served = catalog(owner).resolve("tiny-llama")
    row = openai_services.chat_completion_queue(user=owner, served=served, params=params)
    events = openai_services.chat_completion_stream(row, model_id=served.id, include_usage=False, timeout=30, poll=0.01)
    assert b'"role": "assistant"' in next(events)
    assert next(events) == b": waiting\n\n"  # nothing new: a comment, so a client that left is noticed
    events.close()
    row.refresh_from_db()
    assert (row.status, row.error_code) == ("cancelled", "disconnected")
    assert generation.generation_claim(row.pk, worker="w").outcome == "skipped"  # no worker ever takes it


def test_a_cancelled_request_stops_the_tiny_model_between_tokens(owner, project, base_model, rows, monkeypatch):
    """The worker generates up to 200 tokens; the client leaves after the first text is published: the
    model stops at once, the row ends cancelled with the text it had, and nothing more is written."""
    from serving.inference import chat
    from serving.inference.cache import BaseModelCache

    monkeypatch.setattr(generation, "STOP_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(generation, "STREAM_INTERVAL_SECONDS", 0.0)
    row = rows(owner, 1)[0]
    GenerationRequest.objects.filter(pk=row.pk).update(params={**PARAMS, "max_new_tokens": 200})
    tokens = []
    put = chat._Progress.put

    def counting(self, value):
        put(self, value)
        tokens.append(len(self.ids))

    report = generation.AnswerPublisher.report
    published = []

    def leave_after_first(self, text, new_tokens):
        report(self, text, new_tokens)
        published.append(text)
        if len(published) == 1:
            assert generation.generation_cancel(row.pk, code="disconnected", message=generation.CLIENT_LEFT)

    monkeypatch.setattr(chat._Progress, "put", counting)
    monkeypatch.setattr(generation.AnswerPublisher, "report", leave_after_first)
    assert generation.generation_execute(row.pk, WorkerBackend(BaseModelCache())) == "cancelled"
    row.refresh_from_db()
    assert (row.status, row.error_code) == ("cancelled", "disconnected")
    assert row.outputs[0]["text"] == published[0]  # what was written before the cancel, nothing after
    assert tokens[-1] <= row.outputs[0]["new_tokens"] + 1, tokens  # stopped at the next token, not at 200
    assert tokens[-1] < 20


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_chat_completion_stops_on_the_worker(owner, project, base_model, monkeypatch):
    from serving.inference import chat
    from serving.inference.cache import BaseModelCache

    monkeypatch.setattr(generation, "STOP_CHECK_SECONDS", 0.0)
    params = parse_chat_request({"model": "tiny-llama", "messages": CHAT, "max_tokens": 200, "temperature": 0})
    row = openai_services.chat_completion_queue(user=owner, served=catalog(owner).resolve("tiny-llama"), params=params)
    tokens = []
    put = chat._Progress.put

    def cancel_at_five(self, value):
        put(self, value)
        tokens.append(len(self.ids))
        if len(self.ids) == 5:
            generation.generation_cancel(row.pk, code="disconnected")

    monkeypatch.setattr(chat._Progress, "put", cancel_at_five)
    assert generation.generation_execute(row.pk, WorkerBackend(BaseModelCache())) == "cancelled"
    row.refresh_from_db()
    assert row.status == "cancelled"
    assert max(tokens) <= 6


# -- what a failure tells whom ----------------------------------------------------------------------
INTERNAL = "OSError: [Errno 2] No such file: /srv/annotune/var/storage/adapters/project-1/x (http://10.0.0.7:8001)"


def test_a_failure_shows_plain_words_to_members_and_the_detail_to_staff(
    client_as, api, owner, annotator, project, base_model, rows
):
    row = rows(annotator, 1, GenerationStatus.FAILED)[0]
    GenerationRequest.objects.filter(pk=row.pk).update(error_code="internal", error=INTERNAL)
    poll = f"/projects/{project.pk}/playground/{row.pk}/"
    detail = f"/api/v1/projects/{project.pk}/generations/{row.pk}/"
    for user in (annotator, owner):
        page = client_as(user).get(f"/projects/{project.pk}/playground/?request={row.pk}").content.decode()
        shown = page + client_as(user).get(poll).content.decode() + api(user).get(detail).content.decode()
        assert "/srv/annotune" not in shown
        assert "10.0.0.7" not in shown
        assert "OSError" not in shown
        assert "The inference worker failed while answering" in shown
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    assert "/srv/annotune" in client_as(owner).get(poll).content.decode()
    assert "10.0.0.7" in api(owner).get(detail).json()["error"]


def test_v1_failures_name_no_internal_detail_unless_staff():
    for code in ("internal", "missing_files", "backend_unavailable", "model_not_served", "backend_refused", "other"):
        plain = openai_services.failure(code, INTERNAL)
        assert "/srv/" not in plain.message
        assert "10.0.0.7" not in plain.message
        assert plain.message
        assert "10.0.0.7" in openai_services.failure(code, INTERNAL, staff=True).message
    kept = "No worker received this request: the task queue lost it (restarted?). Send it again."
    assert openai_services.failure("lost", kept).message == kept  # Annotune's own plain words stay


def test_an_evaluation_that_fails_on_the_worker_stores_plain_words(owner, project, systems_for_failure):
    from evaluation.services import evaluations
    from serving.inference.errors import AdapterFilesError

    class Broken:
        worker, inline = "broken", False

        def answer(self, **kwargs):
            raise AdapterFilesError("The base model at /srv/annotune/models/x could not be loaded: OSError")

    assert evaluations.evaluation_generate(systems_for_failure.pk, Broken()) == "failed"
    systems_for_failure.refresh_from_db()
    assert systems_for_failure.status == EvaluationStatus.FAILED
    assert systems_for_failure.error_code == "missing_files"
    assert "/srv/" not in systems_for_failure.error
    assert "could not read the files" in systems_for_failure.error


@pytest.fixture
def systems_for_failure(owner, project, base_model) -> Evaluation:
    """A queued evaluation of the base model against itself, with one prompt."""
    evaluation = Evaluation.objects.create(
        project=project,
        name="Broken",
        base_model=base_model,
        prompt_source="pasted",
        systems=[
            {"key": "s0", "adapter_id": None, "label": "Base model"},
            {"key": "s1", "adapter_id": None, "label": "Again"},
        ],
        params={"greedy": True, "temperature": 0.0, "max_new_tokens": 4},
        created_by=owner,
    )
    evaluation.prompts.create(position=0, messages=CHAT, category="")
    return evaluation
