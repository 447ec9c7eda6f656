"""Combining adapters: loadable results, exact `cat`, clear refusals."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from serving.inference import AdapterFilesError, BaseModelMismatchError, IncompatibleAdaptersError
from serving.inference.cache import render_prompt
from serving.inference.combine import combine_adapters
from tests.serving.adapter_helpers import CHAT, random_adapter


def adapter_logits(base_path, adapter_path):
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adapter_path)).eval()
    with torch.inference_mode():
        return model(input_ids=render_prompt(tokenizer, CHAT)).logits


@pytest.mark.parametrize(("method", "rank"), [("linear", 4), ("svd", 4), ("cat", 8)])
def test_combination_is_a_loadable_adapter(tiny_base, adapters, tmp_path, method, rank):
    info = combine_adapters(tiny_base, [(adapters["a"], 0.7), (adapters["b"], 0.3)], method, tmp_path / "c")
    assert info["rank"] == rank
    assert json.loads((tmp_path / "c" / "adapter_config.json").read_text())["r"] == rank
    combined = adapter_logits(tiny_base, tmp_path / "c")
    assert not torch.allclose(combined, adapter_logits(tiny_base, adapters["a"]), atol=1e-3)


def test_cat_is_the_exact_weighted_sum(tiny_base, adapters, tmp_path):
    combine_adapters(tiny_base, [(adapters["a"], 1.0), (adapters["r8"], 0.0)], "cat", tmp_path / "c")
    assert torch.allclose(
        adapter_logits(tiny_base, tmp_path / "c"), adapter_logits(tiny_base, adapters["a"]), atol=1e-4
    )


def test_incompatible_combinations_are_refused(tiny_base, other_base, adapters, tmp_path):
    with pytest.raises(IncompatibleAdaptersError, match="equal rank"):
        combine_adapters(tiny_base, [(adapters["a"], 1), (adapters["r8"], 1)], "linear", tmp_path / "x")
    with pytest.raises(IncompatibleAdaptersError, match="at least two"):
        combine_adapters(tiny_base, [(adapters["a"], 1)], "cat", tmp_path / "x")
    with pytest.raises(IncompatibleAdaptersError, match="Unknown combination"):
        combine_adapters(tiny_base, [(adapters["a"], 1), (adapters["b"], 1)], "average", tmp_path / "x")
    dora = random_adapter(tiny_base, tmp_path / "dora", seed=9, use_dora=True)
    with pytest.raises(IncompatibleAdaptersError, match="DoRA"):
        combine_adapters(tiny_base, [(adapters["a"], 1), (dora, 1)], "cat", tmp_path / "x")
    foreign = random_adapter(other_base, tmp_path / "foreign", seed=4)
    with pytest.raises(BaseModelMismatchError, match="different base models"):
        combine_adapters(tiny_base, [(adapters["a"], 1), (foreign, 1)], "cat", tmp_path / "x")
    # Same recorded base path but other shapes: caught when loading onto the base.
    relabelled = tmp_path / "relabelled"
    shutil.copytree(foreign, relabelled)
    config = json.loads((relabelled / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tiny_base)
    (relabelled / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(BaseModelMismatchError, match="another base model"):
        combine_adapters(tiny_base, [(adapters["a"], 1), (relabelled, 1)], "cat", tmp_path / "x")
    with pytest.raises(AdapterFilesError):
        combine_adapters(tiny_base, [(adapters["a"], 1), (tmp_path / "nothing", 1)], "cat", tmp_path / "x")
    assert not (tmp_path / "x").exists()
