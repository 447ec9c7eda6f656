"""Continue training: a saved adapter's weights load into a fresh PEFT model of the same shape, and only then."""

from __future__ import annotations

import pytest

from tests.training.adapter_helpers import cached_base
from training.engine.config import validate_config
from training.engine.errors import ConfigError
from training.engine.warm_start import load_adapter_weights


@pytest.fixture(scope="module")
def base() -> str:
    return str(cached_base())


def peft_model(base: str, **config):
    from training.engine.model import build_peft_model

    cfg, errors = validate_config({"method": "lora", "rank": 4, "alpha": 8, "target_modules": "attention", **config})
    assert cfg is not None, errors
    return build_peft_model(base, cfg, None, None)


def lora_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


@pytest.fixture(scope="module")
def saved(base, tmp_path_factory):
    """A trained-looking adapter: random non-zero A and B, saved in PEFT format."""
    import torch

    model = peft_model(base)
    torch.manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.05)
    folder = tmp_path_factory.mktemp("parent-adapter")
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder, lora_state(model)


def test_weights_equal_after_load(base, saved):
    import torch

    folder, expected = saved
    fresh = peft_model(base)
    before = lora_state(fresh)
    assert any(not torch.equal(before[k], expected[k]) for k in expected)  # B starts at zero
    assert load_adapter_weights(fresh, folder) == len(expected)
    after = lora_state(fresh)
    assert after.keys() == expected.keys()
    for key in expected:
        assert torch.equal(after[key], expected[key]), key
    trainable = [n for n, p in fresh.named_parameters() if p.requires_grad]
    assert trainable
    assert all("lora_" in n for n in trainable)


def test_other_rank_is_refused(base, saved):
    folder, _ = saved
    with pytest.raises(ConfigError, match="rank 4, this job 8") as caught:
        load_adapter_weights(peft_model(base, rank=8, alpha=16), folder)
    assert set(caught.value.extra["errors"]) == {"rank"}


def test_other_targets_are_refused(base, saved):
    folder, _ = saved
    with pytest.raises(ConfigError, match="target") as caught:
        load_adapter_weights(peft_model(base, target_modules="all-linear"), folder)
    assert "target_modules" in caught.value.extra["errors"]


def test_folder_without_adapter_is_refused(base, tmp_path):
    with pytest.raises(ConfigError, match="No adapter to continue from"):
        load_adapter_weights(peft_model(base), tmp_path)
