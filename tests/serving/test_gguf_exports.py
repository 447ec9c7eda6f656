"""GGUF exports through the platform: requested on the page or API, written by a real worker, downloaded.

The numbers (llama.cpp's logits against PEFT's) are checked in tests/training/engine/test_gguf_export.py;
here: the adapter page shows the downloads, the Ollama Modelfile and the llama.cpp line naming them, a
download streams the file the worker wrote, DoRA gets the reason instead of an adapter file, and bad
requests change nothing.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from serving.models import Adapter, AdapterOperation, OperationKind
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.serving.adapter_helpers import random_adapter
from tests.workers import celery_worker, wait_for
from training.engine.gguf_export import DORA_REASON


def page_text(response) -> str:
    assert response.status_code == 200, response.content[:2000]
    return unescape(response.content.decode())


def read_gguf(tmp_path, name: str, response):
    import gguf

    path = tmp_path / name
    path.write_bytes(b"".join(response.streaming_content))
    reader = gguf.GGUFReader(str(path))

    def field(key: str):
        value = reader.fields[key]
        return value.contents() if hasattr(value, "contents") else value.parts[value.data[0]].tobytes().decode()

    return reader, field


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_export_on_a_worker_then_the_page_shows_the_downloads_and_the_modelfile(
    api, owner, annotator, client_as, project, make_adapter, adapter_dirs, tiny_model_dir, storage, tmp_path
):
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    dora = make_adapter("Dora", random_adapter(tiny_model_dir, tmp_path / "dora", seed=4, use_dora=True))
    Adapter.objects.filter(pk=dora.pk).update(method="dora")
    http = api(owner)
    base = f"/api/v1/projects/{project.pk}"
    with celery_worker("default", env={"ANNOTUNE_STORAGE_ROOT": str(storage)}):
        page = client_as(owner).post(f"/projects/{project.pk}/adapters/{lawyer.pk}/gguf/")
        queued = http.post(f"{base}/adapters/{dora.pk}/gguf/")
        assert queued.status_code == 202, queued.json()
        for adapter in (lawyer, dora):
            wait_for(
                lambda adapter=adapter: AdapterOperation.objects.filter(adapter=adapter, kind="gguf").first().is_done,
                timeout=180,
                message="the GGUF export",
            )
    assert page.status_code == 302
    assert page["Location"].endswith(f"/adapters/{lawyer.pk}/#local-runtimes")
    export = AdapterOperation.objects.get(adapter=lawyer, kind=OperationKind.GGUF)
    dora_export = AdapterOperation.objects.get(adapter=dora, kind=OperationKind.GGUF)
    assert export.status == "succeeded", export.error
    assert dora_export.status == "succeeded", dora_export.error
    assert sorted(export.params["files"]) == ["adapter", "base", "merged"]

    # Any member sees the downloads, the Modelfile and the llama.cpp line, all naming the same files.
    html = page_text(client_as(annotator).get(f"/projects/{project.pk}/adapters/{lawyer.pk}/"))
    stem = f"lawyer-{export.pk}"
    for name in (f"{stem}-base-f16.gguf", f"{stem}-lora.gguf", f"{stem}-merged-f16.gguf"):
        assert f">{name}</a>" in html
    assert f"FROM ./{stem}-base-f16.gguf\nADAPTER ./{stem}-lora.gguf\nTEMPLATE" in html
    assert 'PARAMETER stop "<|im_end|>"' in html
    assert f"llama-server -m ./{stem}-base-f16.gguf --lora ./{stem}-lora.gguf" in html
    assert "vllm serve" in html  # vLLM still serves the PEFT folder
    assert "<code>ollama create lawyer -f Modelfile && ollama run lawyer</code>" in html
    link = re.search(rf'href="([^"]+/gguf/adapter/)"[^>]*>{stem}-lora.gguf', html).group(1)

    # The page link and the API stream the files the worker wrote.
    response = client_as(annotator).get(link)
    assert response["Content-Disposition"] == f'attachment; filename="{stem}-lora.gguf"'
    reader, field = read_gguf(tmp_path, "lora.gguf", response)
    assert field("general.type") == "adapter"
    assert field("adapter.type") == "lora"
    assert len(reader.tensors) == 2 * 2 * 2  # q and v of 2 layers, A and B each
    response = api(annotator).get(f"{base}/adapter-operations/{export.pk}/gguf/merged/")
    assert response.status_code == 200
    reader, field = read_gguf(tmp_path, "merged.gguf", response)
    assert field("general.type") == "model"
    assert field("tokenizer.ggml.pre") == "gpt-2"

    # DoRA: the reason instead of an adapter file; Ollama and llama.cpp get the merged model.
    html = page_text(client_as(owner).get(f"/projects/{project.pk}/adapters/{dora.pk}/"))
    dora_stem = f"dora-{dora_export.pk}"
    assert DORA_REASON in html
    assert f"FROM ./{dora_stem}-merged-f16.gguf\nTEMPLATE" in html
    assert f"llama-server -m ./{dora_stem}-merged-f16.gguf" in html
    assert "ADAPTER ./" not in html
    assert "vLLM cannot serve DoRA adapters" in html
    refused = api(owner).get(f"{base}/adapter-operations/{dora_export.pk}/gguf/adapter/")
    assert refused.status_code == 400
    assert refused.json()["detail"] == DORA_REASON
    page = client_as(owner).get(f"/projects/{project.pk}/adapter-operations/{dora_export.pk}/gguf/adapter/")
    assert page.status_code == 400
    assert DORA_REASON in unescape(page.content.decode())


@pytest.mark.django_db
def test_bad_export_requests_are_refused_and_change_nothing(api, owner, annotator, project, make_adapter, adapter_dirs):
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    base = f"/api/v1/projects/{project.pk}"
    refused = api(annotator).post(f"{base}/adapters/{lawyer.pk}/gguf/")
    assert refused.status_code == 403
    assert "owners" in refused.json()["detail"]
    assert api(owner).post(f"{base}/adapters/{lawyer.pk}/gguf/", {"dtype": "q4"}, format="json").status_code == 400
    assert not AdapterOperation.objects.exists()

    queued = AdapterOperation.objects.create(project=project, kind=OperationKind.GGUF, adapter=lawyer)
    response = api(owner).get(f"{base}/adapter-operations/{queued.pk}/gguf/base/")
    assert response.status_code == 400
    assert "has not finished" in response.json()["detail"]
    AdapterOperation.objects.filter(pk=queued.pk).update(status="succeeded", params={"dtype": "f16", "files": {}})
    response = api(owner).get(f"{base}/adapter-operations/{queued.pk}/gguf/weights/")
    assert response.status_code == 400
    assert "Use one of base, adapter, merged" in str(response.json()["errors"])

    Adapter.objects.filter(pk=lawyer.pk).update(storage_path="adapters/nowhere")
    response = api(owner).post(f"{base}/adapters/{lawyer.pk}/gguf/")
    assert response.status_code == 400
    assert "missing from storage" in response.json()["detail"]
    assert AdapterOperation.objects.count() == 1
