"""DPO on the tiny model, in a child process as a worker runs it: a small SFT adapter trained further on
preference pairs with TRL's DPOTrainer; the adapter is saved, preference accuracy measured before and after, and
the dataset version's conversations evaluated as after an SFT job (scores, validation loss, behaviour, samples)."""

from __future__ import annotations

import json
import math

import pytest

from training.engine.tiny import toy_conversations
from training.processes import runner

from .conftest import FAST

pytestmark = pytest.mark.slow

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]


def pairs() -> list[dict]:
    """Eight hand-made pairs: the chosen answer is short and names the colour, the rejected one rambles."""
    return [
        {
            "prompt": [{"role": "user", "content": f"What colour is item {i}?"}],
            "chosen": [{"role": "assistant", "content": f"It is {colour}."}],
            "rejected": [{"role": "assistant", "content": f"Well, it could be many things, maybe not {colour}."}],
        }
        for i, colour in enumerate(COLOURS)
    ]


@pytest.fixture(scope="module")
def sft_adapter(llama_path, tmp_path_factory):
    """A tiny SFT adapter (rank 4 on attention), saved in PEFT format as a job saves it."""
    from training.engine import artifacts
    from training.engine.config import validate_config
    from training.engine.model import build_peft_model

    cfg, errors = validate_config({"method": "lora", "rank": 4, "alpha": 8, "target_modules": "attention"})
    assert cfg is not None, errors
    folder = tmp_path_factory.mktemp("sft-adapter")
    return str(artifacts.save_adapter(build_peft_model(llama_path, cfg), folder))


def test_dpo_trains_the_parent_adapter_and_measures_preference_accuracy(llama_path, sft_adapter, tmp_path):
    path = tmp_path / "preferences.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs()), encoding="utf-8")
    progress: list[dict] = []
    spec = {
        "base_model_path": llama_path,
        "train_examples": toy_conversations(12),  # the dataset version's conversations, no validation file
        "n_samples": 2,
        "output_dir": str(tmp_path / "out"),
        "config": {**FAST, "method": "dpo", "rank": 4, "alpha": 8, "batch_size": 2, "max_steps": 4,
                   "learning_rate": 5e-3, "eval_fraction": 0.25, "beta": 0.1},
        "init_adapter_path": sft_adapter,
        "preference_examples": str(path),
    }  # fmt: skip
    outcome = runner.run_in_child(spec, on_progress=progress.append, tick_seconds=1.0)
    assert outcome.status == runner.SUCCEEDED, outcome.error

    result = outcome.result
    adapter = tmp_path / "out" / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4
    assert (adapter / "README.md").is_file()
    assert not (adapter / "ref").exists()  # only the trained adapter is saved
    assert (tmp_path / "out" / "result.json").is_file()

    metrics = result["metrics"]
    assert metrics["global_step"] == 4
    assert metrics["train_examples"] == 6
    assert metrics["validation_examples"] == metrics["held_out_examples"] == 2
    assert math.isfinite(metrics["final_loss"])
    assert math.isfinite(metrics["train_loss"])
    for key in ("preference_accuracy_before", "preference_accuracy_after", "reward_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
        assert metrics[key] * 2 == round(metrics[key] * 2)  # a share of the two held-out pairs
    assert result["config"]["method"] == "dpo"
    assert [p["step"] for p in result["loss_history"]]
    logged = [p for p in progress if p.get("event") == "log"]
    assert logged
    assert logged[-1]["step"] == 4
    assert all(math.isfinite(p["loss"]) for p in logged)

    # Evaluated as an SFT job is: the conversations split by eval_fraction and seed (3 of 12 held out).
    assert metrics["val_tokens"] > 0
    for key in ("val_loss_base", "val_loss_adapter", "val_perplexity_base", "val_perplexity_adapter"):
        assert math.isfinite(metrics[key])
    assert metrics["val_loss_base"] != metrics["val_loss_adapter"]  # the adapter is on, then off
    for key in ("scoring_seconds", "forgetting_seconds", "behaviour_seconds"):
        assert metrics[key] >= 0
    scores = result["example_scores"]
    assert [(s["source"], s["index"]) for s in scores] == [("train", i) for i in range(12)]
    assert sum(s["split_used"] == "validation" for s in scores) == 3
    assert all(s["adapter_loss"] is not None and s["base_loss"] is not None for s in scores)
    assert result["forgetting"]["source"] == "builtin"
    behaviour = result["behaviour"]
    validation = [p for p in behaviour["prompts"] if p["split"] == "validation"]
    assert len(validation) == 3
    assert any(p["split"] == "control" for p in behaviour["prompts"])
    assert {"text", "new_tokens", "cut"} <= set(validation[0]["adapter"])
    assert len(result["samples"]) == 2
    assert [s["prompt"] for s in result["samples"]] == [p["prompt"] for p in validation[:2]]
    assert "## Sample generations (greedy)" in (adapter / "README.md").read_text()


def test_dpo_without_pairs_fails_with_a_data_error(llama_path, sft_adapter, tmp_path):
    from training.engine import JobSpec, run_job
    from training.engine.errors import DataError

    bad = tmp_path / "preferences.jsonl"
    bad.write_text(json.dumps({**pairs()[0], "chosen": pairs()[0]["rejected"]}) + "\n", encoding="utf-8")
    spec = JobSpec(base_model_path=llama_path, train_examples=[], output_dir=str(tmp_path / "out"),
                   config={**FAST, "method": "dpo"}, init_adapter_path=sft_adapter,
                   preference_examples=str(bad))  # fmt: skip
    with pytest.raises(DataError, match="pair 1: chosen and rejected are the same answer"):
        run_job(spec)


def test_dpo_of_a_qlora_adapter_loads_the_base_in_4_bit(llama_path, tmp_path):
    """The base under a QLoRA parent loads as it was trained: 4-bit, from the quantised copy kept for the base."""
    import torch
    from safetensors.torch import load_file

    from training.engine import artifacts
    from training.engine.config import validate_config
    from training.engine.model import build_peft_model

    cfg, errors = validate_config({"method": "qlora", "rank": 4, "alpha": 8, "target_modules": "attention"})
    assert cfg is not None, errors
    parent = str(artifacts.save_adapter(build_peft_model(llama_path, cfg), tmp_path / "qlora-adapter"))
    path = tmp_path / "preferences.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs()), encoding="utf-8")
    cache = tmp_path / "quantized"
    spec = {
        "base_model_path": llama_path,
        "train_examples": toy_conversations(8),
        "n_samples": 1,
        "output_dir": str(tmp_path / "out"),
        "config": {**FAST, "method": "dpo", "rank": 4, "alpha": 8, "batch_size": 2, "max_steps": 2,
                   "learning_rate": 5e-3, "eval_fraction": 0.25},
        "init_adapter_path": parent,
        "init_adapter_method": "qlora",
        "preference_examples": str(path),
        "quantized_cache_dir": str(cache),
        "score_examples": False,
    }  # fmt: skip
    outcome = runner.run_in_child(spec, tick_seconds=1.0)
    assert outcome.status == runner.SUCCEEDED, outcome.error
    assert any(cache.iterdir())  # the 4-bit copy the base was loaded from
    assert outcome.result["metrics"]["global_step"] == 2
    assert math.isfinite(outcome.result["metrics"]["final_loss"])
    before, after = (
        load_file(f"{folder}/adapter_model.safetensors") for folder in (parent, tmp_path / "out" / "adapter")
    )
    assert any(not torch.equal(before[name], after[name]) for name in before)  # gradients reached the adapter
    assert math.isfinite(outcome.result["metrics"]["val_loss_adapter"])
    assert outcome.result["samples"]
