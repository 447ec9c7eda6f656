"""OpenAI-compatible endpoints driven by the official `openai` client against a live server.

The slow test runs a real inference worker (tiny model, random adapters): completions from the base
and from an adapter, a stream, a stop string. The others need no worker: the refusals happen before
anything is queued, in OpenAI's error shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import openai
import pytest

from accounts.services import api_token_create
from annotation.models import Role
from serving.models import GenerationRequest
from tests.factories import MembershipFactory, ProjectFactory
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.serving.adapter_helpers import CHAT
from tests.workers import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(live_server, user, **options) -> openai.OpenAI:
    key = api_token_create(user=user, name="test")[1]
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=90, **options)


def raw(url: str, *, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (the live test server)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the live test server)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_openai_error(body: dict, *, code: str | None = None, param: str | None = None) -> dict:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"]
    assert error["type"]
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    return error


@pytest.mark.slow
def test_completions_and_a_stream_from_the_base_and_an_adapter(
    live_server, owner, project, make_adapter, adapter_dirs, tiny_model_dir, storage, settings
):
    from serving.inference.cache import BaseModelCache

    settings.ANNOTUNE_GENERATE_TIMEOUT_SECONDS = 90
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    make_adapter("Support", adapter_dirs["b"], is_active=True)
    client = client_for(live_server, owner)
    greedy = {"messages": CHAT, "max_tokens": 8, "temperature": 0}
    # A tiny model answers 32 tokens within one poll of the web process: the worker pauses after each
    # streamed piece, so the stream's pieces do not depend on the machine's speed.
    worker_env = {"ANNOTUNE_STORAGE_ROOT": str(storage), "ANNOTUNE_INFERENCE_STREAM_DELAY_MS": "60"}
    with celery_worker("inference", env=worker_env):
        models = {m.id: m for m in client.models.list().data}
        by_base = client.chat.completions.create(model="tiny-llama", **greedy)
        by_id = client.chat.completions.create(model=f"adapter-{lawyer.pk}", **greedy)
        by_alias = client.chat.completions.create(model="Lawyer", **greedy)
        longer = client.chat.completions.create(model=f"adapter-{lawyer.pk}", **{**greedy, "max_tokens": 32})
        chunks = list(
            client.chat.completions.create(
                model=f"adapter-{lawyer.pk}",
                **{**greedy, "max_tokens": 32},
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        words = longer.choices[0].message.content.split()
        stop = words[len(words) // 2]
        stopped = client.chat.completions.create(
            model=f"adapter-{lawyer.pk}", **{**greedy, "max_tokens": 32}, stop=stop
        )

    assert {"tiny-llama", f"adapter-{lawyer.pk}"} <= set(models)
    assert models[f"adapter-{lawyer.pk}"].model_extra["aliases"] == ["Lawyer"]
    assert models[f"adapter-{lawyer.pk}"].model_extra["parent"] == "tiny-llama"

    # The worker's answers are what the cached base gives in this process, with and without the adapter.
    cache = BaseModelCache()
    expected_base = cache.generate(tiny_model_dir, CHAT, max_new_tokens=8).text
    expected_lawyer = cache.generate(
        tiny_model_dir, CHAT, adapter_name="lawyer", adapter_path=adapter_dirs["a"], max_new_tokens=8
    ).text
    assert by_base.choices[0].message.content == expected_base
    assert by_id.choices[0].message.content == expected_lawyer != expected_base
    assert by_alias.choices[0].message.content == expected_lawyer
    assert by_id.object == "chat.completion"
    assert by_id.model == f"adapter-{lawyer.pk}"
    assert by_id.choices[0].message.role == "assistant"
    usage = by_id.usage
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert by_id.choices[0].finish_reason == ("length" if usage.completion_tokens == 8 else "stop")

    # The stream: a role chunk, content deltas that join to the same greedy answer, a finish reason, usage.
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2, "the answer arrived in one piece, not streamed"
    assert "".join(pieces) == longer.choices[0].message.content != ""
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [longer.choices[0].finish_reason]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == longer.usage.completion_tokens
    assert all(c.id == chunks[0].id and c.object == "chat.completion.chunk" for c in chunks)

    # A stop string ends the answer before it.
    text = longer.choices[0].message.content
    assert stopped.choices[0].message.content == text[: text.index(stop)]
    assert stopped.choices[0].finish_reason == "stop"

    # Every request went through the inference worker's rows, one worker process, one cached base.
    rows = GenerationRequest.objects.filter(project=project)
    assert rows.count() == 6
    assert set(rows.values_list("status", flat=True)) == {"succeeded"}
    assert len(set(rows.values_list("worker", flat=True))) == 1


def test_refusals_in_openai_shape(live_server, owner, outsider, project, make_adapter, adapter_dirs):
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    other = ProjectFactory(name="Other", created_by=outsider)
    MembershipFactory(project=other, user=outsider, role=Role.OWNER)
    ask = {"messages": CHAT, "max_tokens": 4}

    # An unknown model: 404 with OpenAI's body.
    with pytest.raises(openai.NotFoundError) as unknown:
        client_for(live_server, owner).chat.completions.create(model="no-such-model", **ask)
    assert unknown.value.status_code == 404
    assert_openai_error(unknown.value.response.json(), code="model_not_found", param="model")

    # A token of another project's member: the adapter is not there for them, nor is the project.
    foreign = client_for(live_server, outsider)
    with pytest.raises(openai.NotFoundError) as refused:
        foreign.chat.completions.create(model=f"adapter-{lawyer.pk}", **ask)
    assert_openai_error(refused.value.response.json(), code="model_not_found")
    assert f"adapter-{lawyer.pk}" not in {m.id for m in foreign.models.list().data}
    chosen = client_for(live_server, outsider, project=str(project.pk))
    with pytest.raises(openai.NotFoundError) as not_member:
        chosen.chat.completions.create(model="base", **ask)
    assert_openai_error(not_member.value.response.json(), code="project_not_found")
    with pytest.raises(openai.NotFoundError):
        chosen.models.list()

    # The owner choosing the project gets `base` as an alias of its base model.
    mine = client_for(live_server, owner, project=str(project.pk))
    ids = {m.id: m.model_extra["aliases"] for m in mine.models.list().data}
    assert ids == {"tiny-llama": ["base"], f"adapter-{lawyer.pk}": ["Lawyer"]}
    assert mine.models.retrieve("Lawyer").id == f"adapter-{lawyer.pk}"

    # Unsupported settings are refused before anything is queued.
    with pytest.raises(openai.BadRequestError) as many:
        client_for(live_server, owner).chat.completions.create(model="tiny-llama", n=2, **ask)
    assert_openai_error(many.value.response.json(), param="n")
    with pytest.raises(openai.BadRequestError) as tools:
        client_for(live_server, owner).chat.completions.create(
            model="tiny-llama", tools=[{"type": "function", "function": {"name": "f"}}], **ask
        )
    assert_openai_error(tools.value.response.json(), param="tools")
    with pytest.raises(openai.BadRequestError) as ends:
        client_for(live_server, owner).chat.completions.create(
            model="tiny-llama", messages=[*CHAT, {"role": "assistant", "content": "Hi"}], max_tokens=4
        )
    assert_openai_error(ends.value.response.json())
    assert not GenerationRequest.objects.exists()

    # A wrong token, and none at all: 401.
    with pytest.raises(openai.AuthenticationError) as wrong:
        openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="not-a-token", max_retries=0).models.list()
    assert_openai_error(wrong.value.response.json(), code="invalid_api_key")
    status, body = raw(f"{live_server.url}/v1/chat/completions", body={"model": "tiny-llama", **ask})
    assert status == 401
    assert_openai_error(body, code="missing_api_key")
    # Any other path under /v1/ answers in the same shape.
    status, body = raw(f"{live_server.url}/v1/completions", body={})
    assert status == 404
    assert_openai_error(body, code="unknown_url")


def test_openai_views_and_the_serving_backends_do_not_import_torch():
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'annotune.settings'); django.setup()\n"
        "import annotune.urls, serving.openai_compat.views, serving.services.backends, serving.tasks\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"DEBUG": "1", "PATH": ""})
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_model_list_costs_the_same_queries_for_more_adapters(owner, project, make_adapter, adapter_dirs):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    key = api_token_create(user=owner, name="test")[1]
    http = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    make_adapter("One", adapter_dirs["a"])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert http.get("/v1/models").status_code == 200
        return len(queries)

    count()  # the token's first use records it (one write a minute), which is not the list's cost
    few = count()
    make_adapter("Two", adapter_dirs["b"])
    make_adapter("Three", adapter_dirs["a"], archived=True)
    assert count() == few
    assert [m["id"] for m in http.get("/v1/models").json()["data"]][0] == "tiny-llama"
    assert len(http.get("/v1/models").json()["data"]) == 3  # the base and two adapters (not the archived one)


def test_request_fields_are_checked_in_openai_terms():
    from serving.inference.chat import cut_at_stop, stable_prefix
    from serving.openai_compat.errors import OpenAIError
    from serving.openai_compat.schema import parse_chat_request

    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    params = parse_chat_request(
        {"model": "m", "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": parts}],
         "max_tokens": 9, "max_completion_tokens": 5, "seed": -1, "stop": "END", "user": "app-7"}
    )  # fmt: skip
    assert params.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
    assert (params.max_tokens, params.seed, params.stop, params.temperature, params.stream) == (
        5,
        2**31 - 1,
        ["END"],
        1.0,
        False,
    )
    for body, param in [
        ({"model": "m", "messages": [], "top_k": 3}, "top_k"),
        ({"model": "m", "messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, "stop"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "logprobs": True}, "logprobs"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {}}, "stream_options"),
    ]:
        with pytest.raises(OpenAIError) as refused:
            parse_chat_request(body)
        assert refused.value.param == param
        assert refused.value.status == 400
    assert cut_at_stop("one two END three", ["END", "two"]) == ("one ", True)
    assert cut_at_stop("one", ["x"]) == ("one", False)
    assert stable_prefix("one two \ufffd", []) == "one two"
    assert stable_prefix("one twoEN", ["END"]) == "one two"


def test_whole_numbers_too_large_for_a_float_are_refused_by_name(owner):
    from rest_framework.test import APIClient

    key = api_token_create(user=owner, name="test")[1]
    http = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    ask = {"model": "tiny-llama", "messages": [{"role": "user", "content": "x"}]}
    for name in ("seed", "max_tokens", "max_completion_tokens", "temperature"):
        response = http.post("/v1/chat/completions", {**ask, name: 10**400}, format="json")
        assert response.status_code == 400, (name, response.content)
        assert_openai_error(response.json(), param=name, code="invalid_value")
    assert not GenerationRequest.objects.exists()


def test_a_chat_completion_answered_after_the_reaper_failed_it_stays_failed(owner, project, base_model, settings):
    """The worker is slow; the reaper fails the request (the client was told to send it again). Neither the
    streamed text nor the final answer may land on the row afterwards."""
    import contextlib
    from datetime import timedelta

    from django.utils import timezone

    from serving.inference.cache import BaseModelCache
    from serving.services.backends import WorkerBackend
    from serving.services.generation import generation_execute
    from serving.services.reaper import reap_generations

    settings.ANNOTUNE_GENERATE_STALE_SECONDS = 60
    params = {"max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": [], "stream": True}
    row = GenerationRequest.objects.create(
        project=project,
        base_model=base_model,
        messages=CHAT,
        targets=[{"adapter_id": None, "label": "Base model", "model": "tiny-llama"}],
        params={**params, "api": "openai"},
        created_by=owner,
    )

    class SlowCache(BaseModelCache):
        @contextlib.contextmanager
        def serving(self, *args, **kwargs):
            GenerationRequest.objects.filter(pk=row.pk).update(started_at=timezone.now() - timedelta(hours=1))
            assert reap_generations()["stale"] == [row.pk]
            with super().serving(*args, **kwargs) as served:
                yield served

    generation_execute(row.pk, WorkerBackend(SlowCache()))
    row.refresh_from_db()
    assert (row.status, row.error_code, row.outputs) == ("failed", "worker_lost", [])
