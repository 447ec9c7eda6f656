"""Adapters that travel: adapter_config.json names the real base (never the 4-bit cache a QLoRA base was
read from) and README.md is a model card in the Hub's conventions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from training.engine import JobSpec, run_job, toy_conversations
from training.engine.artifacts import card_metadata, front_matter

from .conftest import FAST

# In a fresh interpreter, from nothing but the adapter folder: the base comes from adapter_config.json.
LOAD = textwrap.dedent(
    """
    import json, sys, torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM, AutoTokenizer
    report = []
    for folder in sys.argv[1:]:
        base_path = json.load(open(folder + "/adapter_config.json"))["base_model_name_or_path"]
        model = AutoPeftModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(base_path, local_files_only=True)
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": "Where is the order?"}], add_generation_prompt=True, return_tensors="pt",
            return_dict=True,
        )["input_ids"]
        with torch.no_grad():
            after = model(input_ids=ids).logits
            with model.disable_adapter():
                before = model(input_ids=ids).logits
        report.append({"type": type(model).__name__, "base": base_path, "diff": float((after - before).abs().max())})
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_qlora_lora_and_dora_adapters_load_anywhere_from_their_folder(llama_path, tmp_path):
    from training.engine.model import load_base

    cache = tmp_path / "quantized"
    load_base(llama_path, "qlora", quantized_cache_dir=str(cache))  # an earlier job left a 4-bit copy: the job reads it
    moved = []
    for method in ("qlora", "lora", "dora"):
        result = run_job(
            JobSpec(
                base_model_path=llama_path,
                train_examples=toy_conversations(8),
                validation_examples=toy_conversations(2, seed=99),
                output_dir=str(tmp_path / method),
                config={
                    **FAST,
                    "method": method,
                    "max_steps": 2,
                    "learning_rate": 5e-2,
                    "use_rslora": method == "dora",
                },
                dataset_hash="sha256:feedbeef",
                n_samples=1,
                max_new_tokens=4,
                quantized_cache_dir=str(cache),
                score_examples=False,
            )
        )
        adapter = Path(result.adapter_dir or "")
        config = json.loads((adapter / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == llama_path, method
        assert config["use_dora"] is (method == "dora")

        meta = front_matter((adapter / "README.md").read_text())
        assert meta["base_model"] == Path(llama_path).name  # a local base: its folder name, the path in the body
        assert meta["library_name"] == "peft"
        assert meta["pipeline_tag"] == "text-generation"
        assert meta["license"] == "other"
        assert meta["tags"] == [method, *(["rslora"] if method == "dora" else []), "peft", "annotune"]
        [entry] = meta["model-index"]
        [results] = entry["results"]
        assert results["dataset"]["revision"] == "sha256:feedbeef"
        losses = {m["name"]: m["value"] for m in results["metrics"]}
        assert losses["Validation loss (adapter)"] == pytest.approx(result.metrics["val_loss_adapter"], rel=1e-5)
        assert losses["Validation loss (base model)"] == pytest.approx(result.metrics["val_loss_base"], rel=1e-5)
        body = (adapter / "README.md").read_text().split("\n---\n", 1)[1]
        assert f"`{llama_path}`" in body
        assert "`sha256:feedbeef`" in body
        assert "| learning_rate | 0.05 |" in body
        # Carried away from the job: only the folder goes, the job's outputs and the 4-bit cache are gone.
        moved.append(str(shutil.copytree(adapter, tmp_path / "elsewhere" / method)))
        shutil.rmtree(tmp_path / method)
    assert len(list(cache.iterdir())) == 1  # the QLoRA job read the 4-bit copy, the case that leaked its path
    shutil.rmtree(cache)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", LOAD, *moved], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["type"] for r in report] == ["PeftModelForCausalLM"] * 3
    assert [r["base"] for r in report] == [llama_path] * 3
    assert all(r["diff"] > 1e-4 for r in report), report


def test_card_front_matter_for_a_hub_base_and_a_local_license(tmp_path):
    hub = card_metadata(
        {
            "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
            "method": "qlora",
            "config": {"use_rslora": True},
            "metrics": {"val_loss_adapter": None, "val_loss_base": float("nan")},
        }
    )
    assert hub["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert hub["tags"] == ["qlora", "rslora", "peft", "annotune", "base_model:adapter:Qwen/Qwen2.5-0.5B-Instruct"]
    assert "model-index" not in hub  # no validation figure to report
    yaml.safe_load(yaml.safe_dump(hub))

    base = tmp_path / "my-base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: apache-2.0\nlanguage: [en]\n---\n# Base\n")
    local = card_metadata({"base_model": str(base), "method": "lora", "metrics": {"val_loss_adapter": 1.5}})
    assert local["base_model"] == "my-base"
    assert local["license"] == "apache-2.0"
    assert local["tags"] == ["lora", "peft", "annotune"]
    assert local["model-index"][0]["results"][0]["metrics"] == [
        {"type": "loss", "name": "Validation loss (adapter)", "value": 1.5}
    ]
    assert card_metadata({"base_model": str(base), "method": "dora", "license": "mit"})["license"] == "mit"
