"""Real worker processes: answers on the inference queue, merges and combinations on the default queue."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from serving.inference.cache import render_prompt
from serving.models import Adapter, AdapterOperation, GenerationRequest
from tests.serving.adapter_fixtures import *  # noqa: F403
from tests.serving.adapter_helpers import CHAT
from tests.workers import celery_worker, wait_for
from training.models import BaseModel

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def fresh_answer(base_path, adapter_path, max_new_tokens: int) -> str:
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, str(adapter_path))
    ids = render_prompt(tokenizer, CHAT)
    with torch.inference_mode():
        out = model.eval().generate(input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_two_adapters_on_one_cached_base_answer_like_fresh_loads(
    api, owner, client, project, make_adapter, adapter_dirs, tiny_model_dir, storage, settings
):
    settings.ANNOTUNE_GENERATE_TIMEOUT_SECONDS = 120
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    support = make_adapter("Support", adapter_dirs["b"], is_active=True)
    url = f"/api/v1/projects/{project.pk}/generate"
    body = {"messages": CHAT, "max_new_tokens": 12, "seed": 3}
    with celery_worker("inference", env={"ANNOTUNE_STORAGE_ROOT": str(storage)}):
        http = api(owner)
        by_lawyer = http.post(url, {**body, "adapter": lawyer.pk}, format="json")
        by_default = http.post(url, body, format="json")  # the active adapter
        by_base = http.post(url, {**body, "adapter": None}, format="json")
        # The playground: base and both adapters side by side in one request.
        client.force_login(owner)
        page = client.post(
            f"/projects/{project.pk}/playground/",
            {"conversation": CHAT[0]["content"], "base": "1", "adapters": [lawyer.pk, support.pk],
             "max_new_tokens": "12", "temperature": "0", "seed": "3"},
        )  # fmt: skip
        assert page.status_code == 200
        side_by_side = wait_for(
            lambda: next((g for g in GenerationRequest.objects.order_by("-id")[:1] if g.is_done), None),
            timeout=120,
            message="the playground request",
        )
        partial = client.get(f"/projects/{project.pk}/playground/{side_by_side.pk}/")
    for response in (by_lawyer, by_default, by_base):
        assert response.status_code == 200, response.json()
    assert by_default.json()["adapter"] == support.pk
    texts = {r.json()["text"] for r in (by_lawyer, by_default, by_base)}
    assert len(texts) == 3
    assert by_lawyer.json()["text"] == fresh_answer(tiny_model_dir, adapter_dirs["a"], 12)
    assert by_default.json()["text"] == fresh_answer(tiny_model_dir, adapter_dirs["b"], 12)
    assert by_base.json()["text"] == fresh_answer(tiny_model_dir, None, 12)
    assert side_by_side.status == "succeeded", side_by_side.error
    assert [o["text"] for o in side_by_side.outputs] == [
        by_base.json()["text"],
        by_lawyer.json()["text"],
        by_default.json()["text"],
    ]
    assert b"hx-get" not in partial.content  # finished: the page stops polling
    # One worker process served everything (one cached base model).
    assert len(set(GenerationRequest.objects.values_list("worker", flat=True))) == 1


def test_merge_and_combine_on_a_worker(
    api, owner, project, make_adapter, adapter_dirs, tiny_model_dir, storage, tmp_path
):
    lawyer = make_adapter("Lawyer", adapter_dirs["a"])
    r8 = make_adapter("R8", adapter_dirs["r8"], rank=8)
    http = api(owner)
    base = f"/api/v1/projects/{project.pk}"
    with celery_worker("default", env={"ANNOTUNE_STORAGE_ROOT": str(storage)}):
        merge = http.post(f"{base}/adapters/{lawyer.pk}/merge/").json()
        combine = http.post(
            f"{base}/adapters/combine/",
            {"name": "Mix", "method": "cat", "sources": [{"adapter_id": lawyer.pk, "weight": 0.6},
                                                         {"adapter_id": r8.pk, "weight": 0.4}]},
            format="json",
        ).json()  # fmt: skip
        for op_id in (merge["id"], combine["id"]):
            wait_for(
                lambda op_id=op_id: AdapterOperation.objects.get(pk=op_id).is_done, timeout=180, message="operation"
            )
    merge_op, combine_op = AdapterOperation.objects.get(pk=merge["id"]), AdapterOperation.objects.get(pk=combine["id"])
    assert merge_op.status == "succeeded", merge_op.error
    assert combine_op.status == "succeeded", combine_op.error

    # The merged model: downloadable, loads with from_pretrained, same logits as base + adapter.
    response = http.get(f"{base}/adapter-operations/{merge_op.pk}/download/")
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        archive.extractall(tmp_path / "merged")
        root = archive.namelist()[0].split("/")[0]
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged" / root).eval()
    with_adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32), str(adapter_dirs["a"])
    ).eval()
    ids = render_prompt(AutoTokenizer.from_pretrained(tmp_path / "merged" / root), CHAT)
    with torch.inference_mode():
        assert torch.allclose(merged(input_ids=ids).logits, with_adapter(input_ids=ids).logits, atol=1e-4)
    registered = http.post(
        f"{base}/adapter-operations/{merge_op.pk}/register/", {"name": "tiny-lawyer-merged"}, format="json"
    )
    assert registered.status_code == 201, registered.json()
    assert BaseModel.objects.get(name="tiny-lawyer-merged").has_chat_template

    # The combination: a new adapter with its parents in the lineage, loadable in a fresh process.
    combined = Adapter.objects.get(pk=combine_op.result_adapter_id)
    assert [p["adapter_id"] for p in combined.lineage["parents"]] == [lawyer.pk, r8.pk]
    assert combined.lineage["combination"]["method"] == "cat"
    assert combined.lineage["config"]["rank"] == 12
    response = http.get(f"{base}/adapters/{combined.pk}/download/")
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        archive.extractall(tmp_path / "combined")
        root = archive.namelist()[0].split("/")[0]
    script = (
        "import sys; from peft import PeftModel; from transformers import AutoModelForCausalLM\n"
        "m = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(sys.argv[1]), sys.argv[2])\n"
        "print('rank', m.peft_config['default'].r)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_model_dir), str(tmp_path / "combined" / root)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rank 12" in done.stdout
