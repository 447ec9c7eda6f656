"""QLoRA keeps a 4-bit copy of each base: quantised by the first job, loaded as is by the next."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _copies(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if not p.name.startswith("."))


def _logits(model):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([[1, 5, 9, 14, 20, 3]])).logits


def test_first_load_saves_a_4bit_copy_and_later_loads_use_it(llama_path, tmp_path):
    import bitsandbytes as bnb
    import torch

    from training.engine.model import load_base

    cache = tmp_path / "quantized"
    first = load_base(llama_path, "qlora", quantized_cache_dir=str(cache))
    [copy] = _copies(cache)
    saved = json.loads((copy / "config.json").read_text())["quantization_config"]
    assert saved["load_in_4bit"] is True
    assert (saved["bnb_4bit_quant_type"], saved["bnb_4bit_use_double_quant"]) == ("nf4", True)
    assert sum(f.stat().st_size for f in copy.glob("*.safetensors")) < sum(
        f.stat().st_size for f in Path(llama_path).glob("*.safetensors")
    )

    second = load_base(llama_path, "qlora", quantized_cache_dir=str(cache))
    assert Path(second.config._name_or_path) == copy  # loaded from the copy, not the base
    layer = second.model.layers[0].self_attn.q_proj
    assert isinstance(layer, bnb.nn.Linear4bit)
    assert layer.weight.quant_type == "nf4"
    reference = first.model.layers[0].self_attn.q_proj.weight
    assert torch.equal(layer.weight.data, reference.data)  # the same packed 4-bit weights
    assert torch.equal(_logits(first), _logits(second))
    assert _copies(cache) == [copy]


def test_a_changed_base_gets_a_new_copy_and_a_broken_copy_is_rebuilt(llama_path, tmp_path):
    from training.engine.model import load_base

    base = tmp_path / "base"
    shutil.copytree(llama_path, base)
    cache = tmp_path / "quantized"
    load_base(base, "qlora", quantized_cache_dir=str(cache))
    [copy] = _copies(cache)

    weights = next(base.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    load_base(base, "qlora", quantized_cache_dir=str(cache))
    assert len(_copies(cache)) == 2  # new weights, new key

    [newest] = [p for p in _copies(cache) if p != copy]
    for f in newest.glob("*.safetensors"):
        f.write_bytes(b"not a checkpoint")
    model = load_base(base, "qlora", quantized_cache_dir=str(cache))
    assert Path(model.config._name_or_path) == base  # the broken copy was not used ...
    assert (newest / "config.json").is_file()  # ... and was saved again
    again = load_base(base, "qlora", quantized_cache_dir=str(cache))
    assert Path(again.config._name_or_path) == newest


def test_lora_and_dora_never_touch_the_cache(llama_path, tmp_path):
    from training.engine.model import load_base

    cache = tmp_path / "quantized"
    load_base(llama_path, "lora", quantized_cache_dir=str(cache))
    assert not cache.exists()
