"""QLoRA, LoRA and DoRA each train, evaluate and save on every tiny size on the CPU.

Short runs (a step or two on a few short examples) that go through everything a job does: loading
(4-bit for QLoRA), training with an evaluation in between, base-vs-adapter evaluation, greedy
generations, saving the adapter and its model card. Each size's base is built once per session.
"large" (~0.75B) is the costly one: one step, no evaluation during training.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import warnings
from pathlib import Path

import pytest

from training.engine import JobSpec, run_job, toy_conversations
from training.engine.tiny import SIZES

pytestmark = pytest.mark.slow

METHODS = ("qlora", "lora", "dora")
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
NO_BACKWARD = "autograd kernel was not registered"  # bitsandbytes' packed CPU kernel under backprop


@pytest.fixture(scope="module", params=list(SIZES))
def tiny_base(request, tmp_path_factory):
    """(size, path) of a tiny llama base; "test" reuses the session's model, the rest are built once
    and removed after their tests (large is ~3 GB)."""
    size = request.param
    if size == "test":
        yield size, request.getfixturevalue("llama_path")
        return
    from training.engine.tiny import build_tiny_model

    path = tmp_path_factory.mktemp(f"tiny-{size}")
    build_tiny_model(path, size=size)
    yield size, str(path)
    shutil.rmtree(path, ignore_errors=True)


def _linear_weights(folder: Path) -> dict[str, str]:
    """Linear layer name -> "4bit" | dtype of its weight, read from a saved model's safetensors."""
    from safetensors import safe_open

    kinds: dict[str, str] = {}
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            keys = set(f.keys())
            for key in keys:
                if key.endswith(".weight") and key.rsplit(".", 2)[-2] in LINEAR:
                    name = key.removesuffix(".weight")
                    four_bit = f"{key}.quant_state.bitsandbytes__nf4" in keys
                    kinds[name] = "4bit" if four_bit else str(f.get_slice(key).get_dtype())
    return kinds


@pytest.mark.parametrize("method", METHODS)
def test_trains_evaluates_and_saves(tiny_base, method, tmp_path, caplog):
    size, path = tiny_base
    steps = 1 if size == "large" else 2
    spec = JobSpec(
        base_model_path=path,
        train_examples=toy_conversations(8),
        validation_examples=toy_conversations(2, seed=99),
        output_dir=str(tmp_path / "job"),
        config={
            "method": method,
            "max_steps": steps,
            "eval_steps": 0 if size == "large" else 1,  # evaluation, then another training step
            "batch_size": 2,
            "max_seq_length": 32,
            "logging_steps": 1,
            "save_steps": 1000,
            "warmup_ratio": 0.0,
        },
        dataset_hash="sha256:sizes",
        n_samples=1,
        max_new_tokens=4,
        quantized_cache_dir=str(tmp_path / "quantized") if method == "qlora" else None,
    )
    events = []
    with caplog.at_level(logging.INFO, logger="training.engine"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_job(spec, events.append)

    assert not result.cancelled
    assert result.metrics["global_step"] == steps
    losses = [p["loss"] for p in result.loss_history] + [p["eval_loss"] for p in result.eval_history]
    losses += [result.metrics[k] for k in ("final_loss", "val_loss_base", "val_loss_adapter")]
    assert len(losses) >= 4
    assert all(isinstance(x, float) and math.isfinite(x) for x in losses), losses
    assert len(result.eval_history) == (0 if size == "large" else steps)
    assert not [w for w in caught if NO_BACKWARD in str(w.message)]  # no step trained through the packed kernel
    [sample] = result.samples
    assert isinstance(sample["before"], str)
    assert isinstance(sample["after"], str)

    adapter = Path(result.adapter_dir)
    assert (adapter / "adapter_model.safetensors").stat().st_size == result.adapter_size_bytes > 0
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["use_dora"] is (method == "dora")
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    card = (adapter / "README.md").read_text()
    assert method in card
    assert json.loads((tmp_path / "job" / "result.json").read_text())["kept_unquantized"] == result.kept_unquantized

    if method != "qlora":
        assert result.kept_unquantized == []
        return
    # The 4-bit copy the job saved is the model it trained: which layers are 4-bit, which kept.
    [copy] = [p for p in (tmp_path / "quantized").iterdir() if not p.name.startswith(".")]
    kinds = _linear_weights(copy)
    layers = SIZES[size][1]
    assert len(kinds) == layers * len(LINEAR)
    kept = sorted(name for name, kind in kinds.items() if kind != "4bit")
    shutil.rmtree(copy)  # ~0.5 GB for large; pytest keeps the last runs' temporary folders
    assert kept == result.kept_unquantized
    assert all(kinds[name] == "F32" for name in kept)  # the compute dtype on the CPU
    if size == "small":  # MLP width 688: no multiple of 32 / 64
        assert kept == sorted(f"model.layers.{i}.mlp.{n}" for i in range(layers) for n in LINEAR[4:])
        assert "QLoRA: 12 linear layer(s) kept unquantised" in caplog.text
        assert "## Layers kept unquantised" in card
        assert "model.layers.0.mlp.up_proj" in card
    else:
        assert kept == []
        assert "kept unquantised" not in caplog.text


@pytest.mark.parametrize("tiny_base", ["small"], indirect=True)
def test_qlora_small_generates_with_the_packed_cpu_kernel(tiny_base):
    """evaluate.generate (greedy, eval mode, no gradients) runs the 4-bit inference kernel on the kept
    and the quantised layers alike; without the skip list the same call fails on such a CPU."""
    import bitsandbytes as bnb
    import torch
    from bitsandbytes.functional import has_avx512bf16

    from training.engine import evaluate
    from training.engine.config import validate_config
    from training.engine.model import build_peft_model, load_tokenizer, set_cpu_packed_inference
    from training.engine.quant_limits import SkipPlan

    _, path = tiny_base
    cfg, _ = validate_config({"method": "qlora", "target_modules": "all-linear"})
    assert cfg is not None
    model = build_peft_model(path, cfg)
    tokenizer = load_tokenizer(path)
    layers = dict(model.named_modules())
    four_bit = [n for n, m in layers.items() if isinstance(m, bnb.nn.Linear4bit)]
    kept = [n for n, m in layers.items() if type(m) is torch.nn.Linear and n.endswith(".base_layer")]
    assert len(four_bit) == 4 * 4  # q / k / v / o of the 4 layers
    assert len(kept) == 4 * 3  # gate / up / down stay in the compute dtype, with LoRA on top
    assert all(".mlp." in n for n in kept)

    set_cpu_packed_inference(model, True)
    prompt = toy_conversations(1)[0][:-1]
    text = evaluate.generate(model, tokenizer, prompt, max_new_tokens=4)
    assert isinstance(text, str)
    packed = [bool(getattr(layers[n].weight.quant_state, "packing_format_for_cpu", False)) for n in four_bit]
    assert all(packed) is bool(has_avx512bf16())  # the fast kernel ran where the CPU has it

    if has_avx512bf16():  # the bug the skip list prevents, as bitsandbytes 0.50 has it
        everything = build_peft_model(path, cfg, skip_plan=SkipPlan(unsupported={}, default=["lm_head"]))
        set_cpu_packed_inference(everything, True)
        with pytest.raises((AssertionError, RuntimeError)):
            evaluate.generate(everything, tokenizer, prompt, max_new_tokens=4)
