"""Per-example loss and the forgetting check, on real training runs of a tiny model (no canned losses).

The base is a tiny random model given some general knowledge first (`pretrain_tiny_model` on the
built-in control set), so that an adapter can move its predictions the way it does on a real base.
"""

from __future__ import annotations

import random

import pytest

from training.engine import JobSpec, run_job, toy_conversations
from training.engine.control_set import control_conversations, sample_control
from training.engine.scoring import CONTROL_SAMPLE
from training.engine.tiny import planted_noise_conversations

pytestmark = pytest.mark.slow

NOISE_AT = (5, 17, 29, 41, 53)
CONFIG = {
    "method": "lora",
    "batch_size": 8,
    "max_seq_length": 96,
    "logging_steps": 5,
    "save_steps": 1000,
    "warmup_ratio": 0.0,
    "learning_rate": 1e-2,
    "target_modules": "all-linear",
    "seed": 0,
}


@pytest.fixture(scope="module")
def general_base(tmp_path_factory):
    from training.engine.tiny import build_tiny_model, pretrain_tiny_model

    path = tmp_path_factory.mktemp("tiny-general")
    build_tiny_model(path, size="test")
    pretrain_tiny_model(path, control_conversations(), steps=300)
    return str(path)


@pytest.fixture(scope="module")
def planted_run(general_base, tmp_path_factory):
    data, noise_at = planted_noise_conversations(60, NOISE_AT)
    assert noise_at == NOISE_AT
    spec = JobSpec(
        base_model_path=general_base,
        train_examples=data,
        validation_examples=toy_conversations(8, seed=99),
        output_dir=str(tmp_path_factory.mktemp("planted") / "out"),
        config={**CONFIG, "max_steps": 30},
        n_samples=0,
        max_new_tokens=8,
    )
    return data, run_job(spec)


def test_planted_noise_ranks_at_the_top_by_adapter_loss(planted_run):
    _, result = planted_run

    scores = result.example_scores
    assert [(s["source"], s["index"]) for s in scores] == [("train", i) for i in range(65)] + [
        ("validation", i) for i in range(8)
    ]
    assert all(s["split_used"] == s["source"] for s in scores)
    assert all(s["tokens"] > 0 and s["truncated_tokens"] == 0 for s in scores)
    assert all(s["adapter_loss"] is not None and s["base_loss"] is not None for s in scores)
    train = [s for s in scores if s["source"] == "train"]
    top10 = {s["index"] for s in sorted(train, key=lambda s: -s["adapter_loss"])[:10]}
    assert len(top10 & set(NOISE_AT)) >= 4, top10
    # The adapter learned the consistent pattern: those examples got much easier than under the base.
    clean = [s for s in train if s["index"] not in NOISE_AT]
    assert sum(s["base_loss"] - s["adapter_loss"] for s in clean) / len(clean) > 0.5
    assert result.metrics["scoring_seconds"] > 0
    # The validation split's aggregate loss is the token-weighted mean of its examples' losses.
    val = [s for s in scores if s["split_used"] == "validation"]
    tokens = sum(s["tokens"] for s in val)
    assert result.metrics["val_tokens"] == tokens
    for key in ("adapter", "base"):
        pooled = sum(s[f"{key}_loss"] * s["tokens"] for s in val) / tokens
        assert result.metrics[f"val_loss_{key}"] == pytest.approx(pooled, rel=1e-9)

    forgetting = result.forgetting
    assert forgetting is not None
    assert forgetting["source"] == "builtin"
    assert forgetting["control_examples"] == CONTROL_SAMPLE
    assert len(forgetting["samples"]) == 3
    assert forgetting["validation_ratio"] < 1  # the adapter fits the project's own validation split better
    assert forgetting["control_ratio"] == pytest.approx(
        forgetting["control_adapter_ppl"] / forgetting["control_base_ppl"]
    )


def test_packed_scores_match_padded_ones(general_base, tmp_path):
    from transformers import AutoModelForCausalLM

    from training.engine.evaluate import base_mode
    from training.engine.model import load_tokenizer
    from training.engine.scoring import example_features, loss_sums

    tokenizer = load_tokenizer(general_base)
    model = AutoModelForCausalLM.from_pretrained(general_base)
    feats = example_features(tokenizer, toy_conversations(20, seed=4, varied=True), 64)
    assert any(f.truncated_tokens for f in feats)
    with base_mode(model):
        padded = loss_sums(model, feats, tokenizer.pad_token_id, packing=False, token_budget=256)
        packed = loss_sums(model, feats, tokenizer.pad_token_id, packing=True, block=64, token_budget=256)
    for (s1, c1), (s2, c2) in zip(padded, packed, strict=True):
        assert c1 == c2
        assert s1 == pytest.approx(s2, rel=1e-3, abs=1e-3)


def test_held_out_examples_are_scored_as_validation(general_base, tmp_path):
    spec = JobSpec(
        base_model_path=general_base,
        train_examples=toy_conversations(20),
        output_dir=str(tmp_path / "out"),
        config={**CONFIG, "max_steps": 2, "eval_fraction": 0.2, "packing": True},
        n_samples=0,
        max_new_tokens=4,
        general_examples={"train": list(range(20))},
    )
    result = run_job(spec)
    scores = result.example_scores
    assert [s["index"] for s in scores] == list(range(20))
    assert {s["source"] for s in scores} == {"train"}
    held = [s["index"] for s in scores if s["split_used"] == "validation"]
    assert len(held) == 4 == result.metrics["held_out_examples"]
    assert result.forgetting["control_examples"] == CONTROL_SAMPLE + 4  # the general validation examples join


def test_narrow_adapter_forgets_more_than_one_trained_on_a_mix(general_base, tmp_path):
    control = control_conversations()
    measured = {id(c) for c in sample_control(control, CONTROL_SAMPLE)}
    general = [c for c in control if id(c) not in measured][:40]
    narrow = toy_conversations(80, seed=1)
    mix = toy_conversations(40, seed=1) + general
    random.Random(0).shuffle(mix)
    ratios = {}
    for name, data in (("narrow", narrow), ("mix", mix)):
        spec = JobSpec(
            base_model_path=general_base,
            train_examples=data,
            validation_examples=toy_conversations(6, seed=99),
            output_dir=str(tmp_path / name),
            config={**CONFIG, "max_steps": 30},
            n_samples=0,
            max_new_tokens=4,
        )
        ratios[name] = run_job(spec).forgetting["control_ratio"]
    assert ratios["narrow"] > ratios["mix"], ratios
    assert ratios["narrow"] > 1.0, ratios


def test_bfloat16_scores_match_float32_ones(general_base, planted_run):
    """The fast path (bfloat16 decoder, float32 head and loss) keeps every example's loss within 2 % of
    float32 and the top 10 by adapter loss; in float32, the pooled validation loss is `eval_loss`'s."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training.engine.data import build_features
    from training.engine.evaluate import base_mode, eval_loss
    from training.engine.model import load_tokenizer
    from training.engine.scoring import example_features, loss_sums

    data, result = planted_run
    tokenizer = load_tokenizer(general_base)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(general_base), result.adapter_dir)
    feats = example_features(tokenizer, data, CONFIG["max_seq_length"])
    pad = tokenizer.pad_token_id
    with base_mode(model):
        base = {p: loss_sums(model, feats, pad, autocast=p == "bf16") for p in ("fp32", "bf16")}
    adapter = {p: loss_sums(model, feats, pad, autocast=p == "bf16") for p in ("fp32", "bf16")}
    for sums in (base, adapter):
        for (s32, c32), (s16, c16) in zip(sums["fp32"], sums["bf16"], strict=True):
            assert c16 == c32 > 0
            assert s16 / c16 == pytest.approx(s32 / c32, rel=0.02)
    top = {p: {i for i, _ in sorted(enumerate(adapter[p]), key=lambda e: -e[1][0] / e[1][1])[:10]} for p in adapter}
    assert len(top["fp32"] & top["bf16"]) >= 9, top

    validation = toy_conversations(8, seed=99)
    val_feats, _ = build_features(tokenizer, validation, CONFIG["max_seq_length"])
    pairs = loss_sums(model, example_features(tokenizer, validation, CONFIG["max_seq_length"]), pad, autocast=False)
    reference = eval_loss(model, val_feats, pad)
    assert sum(c for _, c in pairs) == reference["tokens"]
    assert sum(s for s, _ in pairs) / reference["tokens"] == pytest.approx(reference["loss"], rel=1e-5)
