"""Merging an adapter into its full-precision base keeps the logits (within 1e-4)."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from serving.inference import BaseModelMismatchError
from serving.inference.cache import render_prompt
from serving.inference.merge import merge_adapter
from tests.serving.adapter_helpers import CHAT, random_adapter


def logits(model, ids):
    with torch.inference_mode():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
def test_merged_model_logits_equal_base_plus_adapter(tiny_base, tmp_path, use_dora):
    adapter = random_adapter(tiny_base, tmp_path / "adapter", seed=11, use_dora=use_dora, targets=["q_proj", "o_proj"])
    info = merge_adapter(tiny_base, adapter, tmp_path / "merged")

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    ids = render_prompt(tokenizer, CHAT)
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    with_adapter = PeftModel.from_pretrained(base, str(adapter)).eval()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()

    expected, got = logits(with_adapter, ids), logits(merged, ids)
    with torch.inference_mode():
        plain = with_adapter.disable_adapter()
        with plain:
            untouched = logits(with_adapter, ids)
    assert (expected - untouched).abs().max() > 1e-2  # the adapter matters
    assert torch.allclose(got, expected, atol=1e-4)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert "model.safetensors" in info["files"]
    assert "tokenizer.json" in info["files"]


def test_merge_refuses_an_adapter_of_another_base(tiny_base, other_base, tmp_path):
    foreign = random_adapter(other_base, tmp_path / "foreign", seed=3)
    with pytest.raises(BaseModelMismatchError):
        merge_adapter(tiny_base, foreign, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
