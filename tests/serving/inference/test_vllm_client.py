"""The vLLM client against a fake vLLM server: the requests it makes and how it maps vLLM's errors."""

from __future__ import annotations

import socket

import pytest

from serving.inference.errors import BackendModelNotFoundError, BackendRefusedError, BackendUnavailableError
from serving.inference.vllm_client import VllmClient
from tests.serving.fake_vllm import FakeVllm, peft_folder

CHAT = [{"role": "user", "content": "Where is the parcel?"}]


@pytest.fixture
def fake():
    with FakeVllm() as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_load_chat_and_unload_an_adapter(fake, tmp_path):
    folder = peft_folder(tmp_path / "lawyer")
    client = VllmClient(f"{fake.url}/v1")  # the OpenAI client's base_url form works too
    assert client.load_lora("adapter-7", str(folder)) is True
    assert client.load_lora("adapter-7", str(folder)) is False  # already loaded: not an error
    assert fake.calls("/v1/load_lora_adapter")[0] == {"lora_name": "adapter-7", "lora_path": str(folder)}
    cards = {c["id"]: c for c in client.models()}
    assert cards["adapter-7"]["parent"] == "tiny-llama"
    assert cards["adapter-7"]["root"] == str(folder)

    result = client.chat("adapter-7", CHAT, max_tokens=16, temperature=0.0, top_p=1.0, seed=3, stop=[])
    assert result.text == "adapter-7 answers Where is the parcel?"
    assert (result.prompt_tokens, result.completion_tokens, result.finish_reason) == (20, 6, "stop")
    sent = fake.calls("/v1/chat/completions")[0]
    assert sent == {
        "model": "adapter-7",
        "messages": CHAT,
        "max_tokens": 16,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 3,
    }

    assert client.unload_lora("adapter-7") is True
    assert client.unload_lora("adapter-7") is False  # not loaded any more: nothing to do
    assert "adapter-7" not in {c["id"] for c in client.models()}


def test_a_stream_yields_the_text_then_the_finish_reason_and_usage(fake):
    chunks = list(VllmClient(fake.url).chat_stream("tiny-llama", CHAT, max_tokens=3, stop=["\n"]))
    assert "".join(c.text for c in chunks) == "tiny-llama answers Where"
    assert len([c for c in chunks if c.text]) == 3
    assert (chunks[-1].finish_reason, chunks[-1].prompt_tokens, chunks[-1].completion_tokens) == ("length", 20, 3)
    sent = fake.calls("/v1/chat/completions")[0]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["stop"] == ["\n"]


def test_vllm_refusals_become_errors_that_say_what_to_fix(fake, tmp_path):
    client = VllmClient(fake.url)
    with pytest.raises(BackendModelNotFoundError, match="does not exist"):
        client.chat("adapter-1", CHAT)
    with pytest.raises(BackendRefusedError, match="DoRA"):
        client.load_lora("dora", str(peft_folder(tmp_path / "dora", use_dora=True)))
    with pytest.raises(BackendRefusedError, match="max_lora_rank 8"):
        client.load_lora("big", str(peft_folder(tmp_path / "big", rank=16)))
    with pytest.raises(BackendRefusedError, match="ANNOTUNE_VLLM_ADAPTER_ROOT") as missing:
        client.load_lora("gone", str(tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in missing.value.message
    fake.fail_chat = True
    with pytest.raises(BackendUnavailableError, match="EngineCore"):
        client.chat("tiny-llama", CHAT)
    assert fake.loras == {}


def test_an_unreachable_server_or_a_wrong_key(tmp_path):
    down = VllmClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(BackendUnavailableError, match="cannot be reached.*ANNOTUNE_VLLM_URL"):
        down.models()
    with FakeVllm(api_key="s3cret") as fake:
        with pytest.raises(BackendUnavailableError, match="ANNOTUNE_VLLM_API_KEY"):
            VllmClient(fake.url, api_key="wrong").models()
        assert VllmClient(fake.url, api_key="s3cret").models()[0]["id"] == "tiny-llama"
