"""BaseModelCache: one base, many adapters, greedy answers equal to a fresh PeftModel load."""

from __future__ import annotations

import shutil

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from serving.inference import AdapterFilesError, BaseModelMismatchError
from serving.inference.cache import BaseModelCache, render_prompt
from tests.serving.adapter_helpers import CHAT, random_adapter


def fresh_answer(base_path, adapter_path, max_new_tokens=12, quantized=False) -> str:
    """A fresh load, as PEFT's docs do it; `quantized`: on the base in the engine's NF4 settings (QLoRA)."""
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    options = {"dtype": torch.float32}
    if quantized:
        from training.engine.model import bnb_config, quantization_plan

        plan = quantization_plan(base_path, "qlora")
        skip = plan.skip_modules if plan is not None and plan.unsupported else None
        options.update(quantization_config=bnb_config(skip), device_map={"": "cpu"})
    model = AutoModelForCausalLM.from_pretrained(base_path, **options)
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, str(adapter_path))
    model.eval()
    ids = render_prompt(tokenizer, CHAT)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_adapters_on_one_base_answer_like_a_fresh_load(tiny_base, adapters):
    cache = BaseModelCache(max_adapters=4)
    base = cache.generate(tiny_base, CHAT, max_new_tokens=12)
    a = cache.generate(tiny_base, CHAT, adapter_name="a", adapter_path=adapters["a"], max_new_tokens=12)
    model_after_a = cache.base(tiny_base).model
    b = cache.generate(tiny_base, CHAT, adapter_name="b", adapter_path=adapters["b"], max_new_tokens=12)
    again_a = cache.generate(tiny_base, CHAT, adapter_name="a", max_new_tokens=12)  # switch only
    base_again = cache.generate(tiny_base, CHAT, max_new_tokens=12)

    assert len({base.text, a.text, b.text}) == 3
    assert a.text == fresh_answer(tiny_base, adapters["a"])
    assert b.text == fresh_answer(tiny_base, adapters["b"])
    assert base.text == base_again.text == fresh_answer(tiny_base, None)
    assert again_a.text == a.text
    assert cache.base(tiny_base).model is model_after_a  # one base, loaded once
    assert cache.loaded_adapters(tiny_base) == ["b", "a"]
    assert a.new_tokens == 12
    assert a.prompt_tokens > 0


def test_least_recently_used_adapter_is_deleted(tiny_base, adapters):
    cache = BaseModelCache(max_adapters=2)
    for name in ("a", "b"):
        cache.attach(tiny_base, name, adapters[name])
    cache.activate(tiny_base, "a")  # b is now the least recently used
    cache.attach(tiny_base, "r8", adapters["r8"])
    assert cache.loaded_adapters(tiny_base) == ["a", "r8"]
    assert set(cache.base(tiny_base).model.peft_config) == {"a", "r8"}


def test_sampling_is_reproducible_with_a_seed(tiny_base, adapters):
    cache = BaseModelCache()
    settings = dict(adapter_name="a", adapter_path=adapters["a"], max_new_tokens=10, temperature=0.9, top_p=0.9)
    first = cache.generate(tiny_base, CHAT, seed=7, **settings)
    assert cache.generate(tiny_base, CHAT, seed=7, **settings).text == first.text


def test_missing_files_and_foreign_adapters_are_refused(tiny_base, other_base, adapters, tmp_path):
    cache = BaseModelCache()
    with pytest.raises(AdapterFilesError, match="does not exist"):
        cache.attach(tiny_base, "gone", tmp_path / "gone")
    broken = tmp_path / "broken"
    shutil.copytree(adapters["a"], broken)
    (broken / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterFilesError, match="no weights"):
        cache.attach(tiny_base, "broken", broken)
    foreign = random_adapter(other_base, tmp_path / "foreign", seed=5)
    with pytest.raises(BaseModelMismatchError, match="another base model"):
        cache.attach(tiny_base, "foreign", foreign)
    with pytest.raises(AdapterFilesError, match="config.json"):
        cache.base(tmp_path)
    assert cache.loaded_adapters(tiny_base) == []


def test_switching_between_adapters_of_different_targets(tiny_base, adapters, tmp_path):
    wide = random_adapter(tiny_base, tmp_path / "wide", seed=21, targets=["q_proj", "k_proj", "v_proj", "o_proj"])
    cache = BaseModelCache()
    cache.attach(tiny_base, "a", adapters["a"])
    cache.attach(tiny_base, "wide", wide)
    assert cache.base(tiny_base).tuner_layers  # the fast switch is in use
    for _ in range(2):
        assert cache.generate(tiny_base, CHAT, adapter_name="a", max_new_tokens=12).text == fresh_answer(
            tiny_base, adapters["a"]
        )
        assert cache.generate(tiny_base, CHAT, adapter_name="wide", max_new_tokens=12).text == fresh_answer(
            tiny_base, wide
        )
    assert cache.base(tiny_base).model.active_adapter == "wide"


def test_a_qlora_adapter_is_served_on_the_4bit_base_it_was_trained_against(tiny_base, adapters):
    pytest.importorskip("bitsandbytes")
    from bitsandbytes.nn import Linear4bit

    cache = BaseModelCache(max_adapters=4)
    full = cache.generate(tiny_base, CHAT, adapter_name="a", adapter_path=adapters["a"], max_new_tokens=12)
    nf4 = cache.generate(
        tiny_base, CHAT, adapter_name="a", adapter_path=adapters["a"], max_new_tokens=12, quantized=True
    )
    assert nf4.text == fresh_answer(tiny_base, adapters["a"], quantized=True)
    assert full.text == fresh_answer(tiny_base, adapters["a"])
    # Two entries, one per precision: the full-precision base is untouched by the 4-bit one.
    quantized_model = cache.base(tiny_base, quantized=True).model
    assert any(isinstance(m, Linear4bit) for m in quantized_model.modules())
    assert not any(isinstance(m, Linear4bit) for m in cache.base(tiny_base).model.modules())
    assert cache.loaded_adapters(tiny_base) == ["a"]
    assert cache.loaded_adapters(tiny_base, quantized=True) == ["a"]
    again = cache.generate(tiny_base, CHAT, adapter_name="a", max_new_tokens=12, quantized=True)  # switch only
    assert again.text == nf4.text
