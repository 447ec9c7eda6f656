"""Which linear layers the 4-bit kernels cannot run, decided from a model config (meta device, no weights)."""

from __future__ import annotations

import pytest

from training.engine import quant_limits
from training.engine.tiny import SIZES, tiny_config

MLP = ("gate_proj", "up_proj", "down_proj")


@pytest.mark.parametrize(
    ("in_features", "out_features", "problem"),
    [
        (256, 256, None),
        (64, 96, None),  # out 96 = 3 x 32
        (256, 688, "out_features 688 is not a multiple of 32"),
        (688, 256, "in_features 688 is not a multiple of 64"),
        (96, 48, "out_features 48 is not a multiple of 32; in_features 96 is not a multiple of 64"),
    ],
)
def test_shape_problem(in_features, out_features, problem):
    assert quant_limits.shape_problem(in_features, out_features) == problem


@pytest.mark.parametrize("arch", ["llama", "mistral"])
@pytest.mark.parametrize("size", list(SIZES))
def test_tiny_sizes(arch, size):
    plan = quant_limits.plan(tiny_config(arch, size))
    assert plan.default == ["lm_head"]
    if size == "small":  # MLP width 688: gate / up (out 688) and down (in 688) of every layer
        layers = SIZES["small"][1]
        expected = {f"model.layers.{i}.mlp.{name}" for i in range(layers) for name in MLP}
        assert set(plan.unsupported) == expected
        assert plan.unsupported["model.layers.0.mlp.gate_proj"] == "out_features 688 is not a multiple of 32"
        assert plan.unsupported["model.layers.3.mlp.down_proj"] == "in_features 688 is not a multiple of 64"
        assert plan.skip_modules == sorted(["lm_head", *expected])  # the head stays in the replaced list
    else:
        assert plan.unsupported == {}
        assert plan.skip_modules == ["lm_head"]


def test_attention_and_gpt2_conv1d_layers_are_checked():
    from transformers import GPT2Config, LlamaConfig

    # head_dim 16 x 1 kv head: k_proj / v_proj have 16 outputs
    llama = LlamaConfig(
        vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=1,
    )  # fmt: skip
    assert sorted(quant_limits.plan(llama).unsupported) == [
        "model.layers.0.self_attn.k_proj",
        "model.layers.0.self_attn.v_proj",
    ]
    # GPT-2's Conv1D stores [in, out]; n_embd 96 is no multiple of 64 (the tied head is a default skip)
    gpt2 = quant_limits.plan(GPT2Config(vocab_size=128, n_embd=96, n_layer=1, n_head=4))
    assert "lm_head" in gpt2.default
    assert set(gpt2.unsupported) == {
        "transformer.h.0.attn.c_attn",
        "transformer.h.0.attn.c_proj",
        "transformer.h.0.mlp.c_fc",
    }
    assert gpt2.unsupported["transformer.h.0.mlp.c_fc"] == "in_features 96 is not a multiple of 64"


def test_summary_groups_layers_by_kind():
    plan = quant_limits.plan(tiny_config("llama", "small"))
    line = quant_limits.summary(plan.unsupported)
    assert line.startswith("QLoRA: 12 linear layer(s) kept unquantised")
    assert "4 x down_proj (in_features 688 is not a multiple of 64)" in line
    assert "4 x gate_proj (out_features 688 is not a multiple of 32)" in line


def test_skip_list_goes_into_the_bnb_config_and_the_cache_key(llama_path):
    from training.engine import quantized
    from training.engine.model import bnb_config

    assert bnb_config().llm_int8_skip_modules is None  # transformers' defaults
    skip = ["lm_head", "model.layers.0.mlp.up_proj"]
    assert bnb_config(skip).llm_int8_skip_modules == skip
    plain = quantized.cache_key(llama_path, bnb_config().to_dict())
    skipping = quantized.cache_key(llama_path, bnb_config(skip).to_dict())
    assert plain != skipping
    assert skipping != quantized.cache_key(llama_path, bnb_config(["lm_head"]).to_dict())


def test_plan_for_a_missing_model_is_a_clear_error(tmp_path):
    from training.engine.errors import ModelNotFoundError
    from training.engine.model import quantization_plan

    assert quantization_plan(tmp_path, "lora") is None
    with pytest.raises(ModelNotFoundError):
        quantization_plan(tmp_path / "nothing", "qlora")
