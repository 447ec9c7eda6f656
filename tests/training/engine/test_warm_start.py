"""Continue training: a saved adapter's weights load into a fresh PEFT model of the same shape, and only then."""

from __future__ import annotations

import pytest

from tests.serving.adapter_helpers import cached_base
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


def test_run_job_starts_from_the_parent_adapter(base, saved, tmp_path):
    """The engine's entry point loads `init_adapter_path` before training: with a vanishing learning rate the
    trained adapter is still the parent's, where a fresh start would leave lora_B at zero."""
    import torch
    from safetensors.torch import load_file

    from training.engine.run import JobSpec, run_job
    from training.engine.tiny import toy_conversations

    folder, expected = saved
    config = {"method": "lora", "rank": 4, "alpha": 8, "target_modules": "attention", "max_steps": 1}
    config |= {"learning_rate": 1e-12, "batch_size": 4, "max_seq_length": 64, "warmup_ratio": 0.0}
    spec = JobSpec(
        base_model_path=base,
        train_examples=toy_conversations(8),
        output_dir=str(tmp_path / "out"),
        config=config,
        n_samples=1,
        max_new_tokens=4,
        score_examples=False,
        init_adapter_path=str(folder),
    )
    result = run_job(spec)
    trained = load_file(f"{result.adapter_dir}/adapter_model.safetensors")
    lora_b = [key for key in trained if "lora_B" in key]
    assert lora_b
    for key in lora_b:
        assert trained[key].abs().max() > 0.01  # the parent's non-zero B, not a fresh start's zeros
    parent = load_file(f"{folder}/adapter_model.safetensors")
    for key in lora_b:
        assert torch.allclose(trained[key], parent[key], atol=1e-6)


def test_a_continued_job_starts_at_the_parents_loss_not_the_bases(base, saved, tmp_path):
    """The first logged loss of a continued job is the parent adapter's on that batch: the same in two runs
    from the parent, and clearly apart from the first loss of a fresh adapter on the same data and seed."""
    from training.engine.run import JobSpec, run_job
    from training.engine.tiny import toy_conversations

    folder, _ = saved
    config = {"method": "lora", "rank": 4, "alpha": 8, "target_modules": "attention", "max_steps": 1}
    config |= {"batch_size": 8, "max_seq_length": 64, "warmup_ratio": 0.0, "logging_steps": 1, "dropout": 0.0}

    def first_loss(name: str, init: str | None) -> float:
        events: list[dict] = []
        spec = JobSpec(
            base_model_path=base,
            train_examples=toy_conversations(8),
            output_dir=str(tmp_path / name),
            config=config,
            n_samples=0,
            score_examples=False,
            init_adapter_path=init,
        )
        run_job(spec, on_progress=events.append)
        return next(e["loss"] for e in events if e.get("event") == "log" and e.get("loss") is not None)

    continued, again, fresh = first_loss("a", str(folder)), first_loss("b", str(folder)), first_loss("c", None)
    assert continued == pytest.approx(again, rel=1e-5)
    # Both runs are deterministic (same data, seed, no dropout): a job that ignored its parent would match the
    # fresh one to float precision; the parent's small random weights move the loss well beyond that.
    assert abs(continued - fresh) > 1e-4 * abs(fresh)
