"""The generation caps through real HTTP, as clients reach the server: the official `openai` client is
told 429 with Retry-After (and retries after it when allowed), and a stream whose client hangs up
cancels its request while it still waits in the queue (no worker runs in these tests)."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import openai
import pytest

from accounts.services import api_token_create
from serving.models import GenerationRequest, GenerationStatus
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.serving.adapter_helpers import CHAT
from training.services import quotas

pytestmark = pytest.mark.django_db(transaction=True)


def key_of(user) -> str:
    return api_token_create(user=user, name="test")[1]


def test_the_openai_client_gets_429_with_retry_after_and_nothing_is_queued(
    live_server, owner, project, base_model, settings
):
    settings.ANNOTUNE_GENERATE_QUEUED_PER_USER = 1
    GenerationRequest.objects.create(
        project=project, base_model=base_model, messages=CHAT, targets=[{"adapter_id": None, "label": "Base model"}],
        params={"max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0}, created_by=owner,
    )  # fmt: skip
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key_of(owner), max_retries=0, timeout=30)
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="tiny-llama", messages=CHAT, max_tokens=8, stream=stream)
        assert int(refused.value.response.headers["retry-after"]) > 0
        assert refused.value.code == "rate_limit_exceeded"
        assert "1 request waiting for the inference worker" in refused.value.message
    assert GenerationRequest.objects.count() == 1


def test_a_stream_whose_client_hangs_up_is_cancelled_while_it_waits(live_server, owner, project, base_model):
    body = json.dumps({"model": "tiny-llama", "messages": CHAT, "max_tokens": 64, "stream": True}).encode()
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key_of(owner)}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(request)
        head = conn.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head
    # The connection is closed; the server notices at its next write (a comment every second) and cancels.
    row = GenerationRequest.objects.get()
    deadline = time.monotonic() + 20
    while row.status == GenerationStatus.QUEUED and time.monotonic() < deadline:
        time.sleep(0.2)
        row.refresh_from_db()
    assert (row.status, row.error_code) == ("cancelled", "disconnected")
    deadline = time.monotonic() + 5
    while quotas.WAITERS.held and time.monotonic() < deadline:  # the server closed the body: slot given back
        time.sleep(0.1)
    assert quotas.WAITERS.held == 0


def test_the_openai_client_reads_a_stream_that_waited_in_the_queue_past_its_keep_alive_comments(
    live_server, owner, project, base_model
):
    """No worker runs: the test answers the row itself after 2.5 s, so the stream first sends the SSE
    comments that keep a waiting stream observable; the official client skips them."""
    from django.db import connection

    def worker() -> None:
        deadline = time.monotonic() + 20
        while not GenerationRequest.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)
        row = GenerationRequest.objects.get()
        output = {"adapter_id": None, "label": "Base model", "text": "It ships on Monday.", "new_tokens": 5}
        GenerationRequest.objects.filter(pk=row.pk).update(
            status=GenerationStatus.SUCCEEDED, outputs=[{**output, "finish_reason": "stop", "seconds": 0.1}]
        )
        connection.close()

    answering = threading.Thread(target=worker)
    answering.start()
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key_of(owner), max_retries=0, timeout=30)
    chunks = list(client.chat.completions.create(model="tiny-llama", messages=CHAT, max_tokens=8, stream=True))
    answering.join()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "It ships on Monday."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
