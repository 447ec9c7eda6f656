"""The behavioural evaluation's generations (engine side), on a real tiny run: the report's shape, base and
adapter answers for every chosen prompt, greedy determinism, the prompt caps and the time budget."""

from __future__ import annotations

import pytest

from training.engine import JobSpec, run_job, toy_conversations
from training.engine.behaviour import Item, choose, run_behaviour, samples
from training.engine.control_set import control_conversations
from training.engine.results import behaviour_run

from .conftest import FAST

pytestmark = pytest.mark.slow

CATEGORIES = ["billing", "shipping", ""]


@pytest.fixture(scope="module")
def finished(llama_path, tmp_path_factory):
    validation = toy_conversations(10, seed=99)
    spec = JobSpec(
        base_model_path=llama_path,
        train_examples=toy_conversations(32),
        validation_examples=validation,
        output_dir=str(tmp_path_factory.mktemp("behaviour") / "out"),
        config={**FAST, "method": "lora", "max_steps": 6, "learning_rate": 1e-2, "seed": 3},
        n_samples=3,
        max_new_tokens=12,
        example_categories={"validation": [CATEGORIES[i % 3] for i in range(10)]},
        behaviour_time_share=None,  # every chosen prompt, whatever this machine's speed
    )
    return spec, run_job(spec)


def test_every_chosen_prompt_has_base_and_adapter_answers_with_recorded_decoding(finished):
    spec, result = finished
    run = result.behaviour
    assert run is not None
    assert behaviour_run(run) == run  # the stored shape reads back unchanged

    validation = [p for p in run["prompts"] if p["split"] == "validation"]
    control = [p for p in run["prompts"] if p["split"] == "control"]
    assert [(p["source"], p["index"]) for p in validation] == [("validation", i) for i in range(10)]
    assert [p["category"] for p in validation] == [CATEGORIES[i % 3] for i in range(10)]
    assert len(control) == 6
    assert all(p["category"] == "" and p["source"] == "control" for p in control)
    builtin = control_conversations()
    for p in control:  # the prompt is the control conversation up to its answer, the reference its answer
        assert builtin[p["index"]][:-1] == p["prompt"]
        assert builtin[p["index"]][-1]["content"] == p["reference"]
    for p, conv in zip(validation, toy_conversations(10, seed=99), strict=True):
        assert p["prompt"] == conv[:-1]
        assert p["reference"] == conv[-1]["content"]
        assert p["prompt"][-1]["role"] == "user"
    for p in run["prompts"]:
        for side in ("base", "adapter"):
            answer = p[side]
            assert isinstance(answer["text"], str)
            assert 0 <= answer["new_tokens"] <= run["decoding"]["max_new_tokens"]
            assert answer["cut"] == (answer["new_tokens"] == run["decoding"]["max_new_tokens"])
    # Trained 6 steps at a high rate, the adapter answers differently from the base on some prompt.
    assert any(p["base"]["text"] != p["adapter"]["text"] for p in run["prompts"])

    assert run["decoding"] == {
        "strategy": "greedy",
        "max_new_tokens": 12,  # the job's cap (the references are longer)
        "prompt_format": "chat template with the generation prompt",
        "batch_size": 8,
    }
    assert run["validation_available"] == 10
    assert run["control_available"] == len(builtin)
    assert run["skipped"] == 0
    assert run["budget_seconds"] is None
    assert run["seconds"] > 0
    assert result.metrics["behaviour_seconds"] == pytest.approx(run["seconds"])


def test_the_samples_are_the_first_validation_answers(finished):
    spec, result = finished
    first = [p for p in result.behaviour["prompts"] if p["split"] == "validation"][: spec.n_samples]
    assert len(result.samples) == spec.n_samples
    for sample, p in zip(result.samples, first, strict=True):
        assert sample["prompt"] == p["prompt"]
        assert sample["before"] == p["base"]["text"].strip()
        assert sample["after"] == p["adapter"]["text"].strip()
    assert samples(result.behaviour, 2) == result.samples[:2]


def test_greedy_answers_are_deterministic(finished):
    from training.engine.config import validate_config
    from training.engine.model import load_for_evaluation, load_tokenizer

    spec, result = finished

    cfg, _ = validate_config(spec.config)
    model = load_for_evaluation(spec.base_model_path, cfg, result.adapter_dir, None)
    tokenizer = load_tokenizer(spec.base_model_path)
    validation = [
        Item(c, "validation", "validation", i, CATEGORIES[i % 3]) for i, c in enumerate(toy_conversations(10, seed=99))
    ]
    control = [Item(c, "control", "control", i) for i, c in enumerate(control_conversations())]
    kwargs = dict(validation=validation, control=control, n_samples=3, max_new_tokens=12, seed=3)
    first = run_behaviour(model, tokenizer, **kwargs)
    again = run_behaviour(model, tokenizer, **kwargs)
    assert [p["adapter"] for p in first["prompts"]] == [p["adapter"] for p in again["prompts"]]
    assert [p["base"] for p in first["prompts"]] == [p["base"] for p in again["prompts"]]
    # The same answers as the job's own run (the adapter reloaded from its saved files).
    assert [p["adapter"]["text"] for p in first["prompts"]] == [
        p["adapter"]["text"] for p in result.behaviour["prompts"]
    ]
    assert [p["base"]["text"] for p in first["prompts"]] == [p["base"]["text"] for p in result.behaviour["prompts"]]


def test_prompts_are_capped_and_the_time_budget_leaves_later_batches_out(llama_path, tokenizer):
    from training.engine.config import validate_config
    from training.engine.model import build_peft_model

    cfg, _ = validate_config({**FAST, "method": "lora"})
    model = build_peft_model(llama_path, cfg)
    validation = [Item(c, "validation", "train", i) for i, c in enumerate(toy_conversations(40, seed=5))]
    control = [Item(c, "control", "control", i) for i, c in enumerate(control_conversations())]
    ticks = iter(range(0, 10_000, 10))  # every clock reading is 10 s later than the previous one

    run = run_behaviour(
        model,
        tokenizer,
        validation=validation,
        control=control,
        n_samples=5,
        max_new_tokens=4,
        seed=0,
        budget_seconds=45.0,
        clock=lambda: float(next(ticks)),
    )
    chosen = choose(40, 5, 24, 0)
    assert len(chosen) == 24
    assert chosen[:5] == [0, 1, 2, 3, 4]
    assert chosen == sorted(set(chosen))
    validation_rows = [p for p in run["prompts"] if p["split"] == "validation"]
    # The first batch (8) and the control batch always; later ones only within the budget.
    assert [p["index"] for p in validation_rows] == chosen[:8]
    assert len([p for p in run["prompts"] if p["split"] == "control"]) == 6
    assert run["skipped"] == 16
    assert run["validation_available"] == 40


def test_the_job_samples_are_answered_whatever_the_budget(llama_path, tokenizer):
    from training.engine.config import validate_config
    from training.engine.model import build_peft_model

    cfg, _ = validate_config({**FAST, "method": "lora"})
    model = build_peft_model(llama_path, cfg)
    validation = [Item(c, "validation", "validation", i) for i, c in enumerate(toy_conversations(40, seed=5))]
    run = run_behaviour(
        model, tokenizer, validation=validation, control=[], n_samples=30, max_new_tokens=2, budget_seconds=0.0
    )
    # More samples asked than the usual cap: every one answered, in order, none left out for time.
    assert [p["index"] for p in run["prompts"]] == list(range(30))
    assert run["skipped"] == 0
    assert samples(run, 30)[29]["prompt"] == toy_conversations(40, seed=5)[29][:-1]
