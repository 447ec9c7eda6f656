"""Real training runs on tiny models: QLoRA / LoRA / DoRA, both architectures, resume, cancel, reload."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from training.engine import (
    PROGRESS_KEYS,
    ConfigError,
    EmptyDatasetError,
    JobSpec,
    ModelNotFoundError,
    run_job,
    toy_conversations,
)

from .conftest import FAST

pytestmark = pytest.mark.slow


def job(path, out, **config):
    return JobSpec(
        base_model_path=path,
        train_examples=toy_conversations(48),
        validation_examples=toy_conversations(6, seed=99),
        output_dir=str(out),
        config={**FAST, **config},
        dataset_hash="sha256:test",
        n_samples=2,
        max_new_tokens=8,
    )


def test_qlora_layers_are_4bit_and_loss_decreases(llama_path, tokenizer, tmp_path):
    import bitsandbytes as bnb

    from training.engine.config import validate_config
    from training.engine.data import build_features
    from training.engine.model import build_peft_model
    from training.engine.trainer import train

    cfg, _ = validate_config(
        {**FAST, "method": "qlora", "max_steps": 30, "learning_rate": 1e-2, "target_modules": "all-linear"}
    )
    assert cfg is not None
    model = build_peft_model(llama_path, cfg)
    four_bit = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(four_bit) == 2 * 7  # every projection of both layers
    assert model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight.quant_type == "nf4"
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    assert all("lora_" in n for n in trainable)

    features, _ = build_features(tokenizer, toy_conversations(48), 64)
    events = []
    outcome = train(model, tokenizer, features, [], cfg, tmp_path / "ckpt", events.append, lambda: False)
    assert outcome.global_step == 30
    assert not outcome.cancelled
    losses = [h["loss"] for h in outcome.loss_history]
    assert losses[-1] < losses[0] - 0.5, losses
    logs = [e for e in events if e["event"] == "log"]
    assert [e["step"] for e in logs] == list(range(1, 31))
    assert all(set(e) == set(PROGRESS_KEYS) for e in events)
    last = logs[-1]
    assert last["max_steps"] == 30
    assert last["tokens_per_second"] > 0
    assert last["eta_seconds"] == 0
    assert last["learning_rate"] is not None
    assert last["grad_norm"] is not None


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_lora_and_dora_runs(llama_path, tmp_path, method):
    from safetensors import safe_open

    events = []
    result = run_job(
        job(llama_path, tmp_path, method=method, max_steps=12, learning_rate=1e-2, eval_steps=6),
        events.append,
    )
    assert not result.cancelled
    assert result.metrics["global_step"] == 12
    assert result.metrics["val_loss_adapter"] < result.metrics["val_loss_base"]
    assert result.metrics["val_perplexity_adapter"] < result.metrics["val_perplexity_base"]
    assert [e["step"] for e in events if e["event"] == "eval"] == [6, 12]
    with safe_open(f"{result.adapter_dir}/adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert any("lora_A" in k for k in keys)
    assert any("lora_magnitude_vector" in k for k in keys) is (method == "dora")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["use_dora"] is (method == "dora")
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


def test_mistral_trains(mistral_path, tmp_path):
    result = run_job(job(mistral_path, tmp_path, method="lora", max_steps=10, learning_rate=1e-2, packing=True))
    assert result.metrics["global_step"] == 10
    losses = [h["loss"] for h in result.loss_history]
    assert losses[-1] < losses[0]
    assert result.metrics["val_loss_adapter"] < result.metrics["val_loss_base"]


def test_qlora_job_end_to_end_and_adapter_loads_in_a_fresh_process(llama_path, tmp_path):
    result = run_job(job(llama_path, tmp_path, method="qlora", max_steps=10, learning_rate=1e-2))
    assert result.adapter_size_bytes == (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size
    assert result.truncation["train"]["examples"] == 48
    assert result.package_versions["bitsandbytes"]
    assert len(result.samples) == 2
    assert {"prompt", "reference", "before", "after"} <= set(result.samples[0])
    card = (tmp_path / "adapter" / "README.md").read_text()
    assert "sha256:test" in card
    assert "qlora" in card
    assert json.loads((tmp_path / "result.json").read_text())["metrics"]["global_step"] == 10

    script = textwrap.dedent(
        f"""
        import json, torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
        base = AutoModelForCausalLM.from_pretrained({llama_path!r}, local_files_only=True).eval()
        ids = torch.tensor([[2, 40, 41, 42, 43, 44, 45]])
        with torch.no_grad():
            before = base(input_ids=ids).logits
            model = PeftModel.from_pretrained(base, {result.adapter_dir!r}).eval()
            after = model(input_ids=ids).logits
        print(json.dumps({{"type": type(model).__name__, "diff": float((after - before).abs().max())}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["type"] == "PeftModelForCausalLM"
    assert report["diff"] > 1e-3


def test_cancellation_stops_early(llama_path, tmp_path):
    steps = []

    def on_progress(event):
        if event["event"] == "log":
            steps.append(event["step"])

    result = run_job(job(llama_path, tmp_path, max_steps=50), on_progress, should_stop=lambda: len(steps) >= 3)
    assert result.cancelled is True
    assert result.adapter_dir is None
    assert 3 <= result.metrics["global_step"] < 50
    assert not (tmp_path / "adapter").exists()


def test_resume_continues_the_step_count(llama_path, tmp_path):
    first = run_job(job(llama_path, tmp_path, max_steps=8), should_stop=lambda: True)  # stops after step 1
    assert first.cancelled
    assert (tmp_path / "checkpoints" / "checkpoint-1").is_dir()

    events = []
    second = run_job(job(llama_path, tmp_path, max_steps=8), events.append)
    assert not second.cancelled
    assert second.metrics["resumed_from_step"] == 1
    assert events[0]["event"] == "start"
    assert events[0]["step"] == 1
    assert [e["step"] for e in events if e["event"] == "log"] == list(range(2, 9))
    assert second.metrics["global_step"] == 8
    assert [h["step"] for h in second.loss_history][-1] == 8


def test_clear_errors(llama_path, tmp_path):
    with pytest.raises(ConfigError) as bad:
        run_job(job(llama_path, tmp_path, rank=0))
    assert bad.value.extra["errors"] == {"rank": "must be at least 1"}
    with pytest.raises(ConfigError, match="target modules not in this model"):
        run_job(job(llama_path, tmp_path, target_modules=["c_attn"], max_steps=1))
    with pytest.raises(ModelNotFoundError):
        run_job(job(str(tmp_path / "no-such-model"), tmp_path, max_steps=1))
    with pytest.raises(EmptyDatasetError):
        run_job(JobSpec(base_model_path=llama_path, train_examples=[], output_dir=str(tmp_path)))
    with pytest.raises(EmptyDatasetError, match="max_seq_length"):
        run_job(job(llama_path, tmp_path, max_seq_length=16, max_steps=1))
