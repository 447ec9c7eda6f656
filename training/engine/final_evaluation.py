"""What a successful job measures once training is over, whatever trained the adapter (SFT or DPO).

`split_examples` splits the job's conversations (its dataset version's files) into training and validation
the one way every job does; `evaluate_trained` then measures the trained PEFT model on them, base (adapter
disabled) against adapter:

- every example's loss under both (`scoring.score_examples`; only the validation split's without
  `spec.score_examples`), and the validation split's pooled loss and perplexity from the same passes;
- the behavioural evaluation (`behaviour.run_behaviour`, with `spec.behaviour`): greedy answers to the
  validation prompts and a control sample, the first of which are the job's samples;
- the forgetting check on the control set (with `spec.score_examples`).

A DPO job trains on preference pairs, not on these conversations: measured on the same split as the SFT
adapter it continues, its "validation loss base vs adapter" and behavioural checks compare like with like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import results
from .data import Conversation
from .scoring import Scored


@dataclass
class Split:
    """The job's conversations as a job uses them."""

    train: list[Conversation]  # trained on (SFT)
    validation: list[Conversation]
    items: list[Scored]  # every example, with its source file, line and the split it was used in
    held_out: int  # validation examples taken from the training file (the job had no validation file)


def split_examples(spec: Any, cfg: Any) -> Split:
    """`spec.train_examples` and `spec.validation_examples` (with the project's system prompt); with no
    validation file, `cfg.eval_fraction` of the training examples is held out by `cfg.seed`."""
    from .data import held_out_indices, load_conversations

    train = load_conversations(spec.train_examples, spec.system_prompt)
    if spec.validation_examples is not None:
        validation = load_conversations(spec.validation_examples, spec.system_prompt)
        items = [Scored(c, i, "train", "train") for i, c in enumerate(train)]
        items += [Scored(c, i, "validation", "validation") for i, c in enumerate(validation)]
        return Split(train, validation, items, 0)
    held = set(held_out_indices(len(train), cfg.eval_fraction, cfg.seed))
    items = [Scored(c, i, "train", "validation" if i in held else "train") for i, c in enumerate(train)]
    validation = [c for i, c in enumerate(train) if i in held]
    return Split([c for i, c in enumerate(train) if i not in held], validation, items, len(validation))


@dataclass
class FinalEvaluation:
    """What `evaluate_trained` adds to a job's result."""

    # val_loss_base, val_perplexity_base, val_loss_adapter, val_perplexity_adapter, val_tokens; and
    # behaviour_seconds, scoring_seconds, forgetting_seconds for the parts that ran.
    metrics: results.Metrics
    samples: list[results.Sample]
    example_scores: list[results.ExampleScore]  # [] without spec.score_examples
    forgetting: results.ForgettingReport | None  # None without spec.score_examples
    behaviour: results.BehaviourRun | None  # None without spec.behaviour


def evaluate_trained(
    spec: Any, cfg: Any, model: Any, tokenizer: Any, items: list[Scored], train_seconds: float | None
) -> FinalEvaluation:
    """Base vs adapter on `items` (see the module docstring); `train_seconds` sets the behavioural
    evaluation's time budget (`spec.behaviour_time_share` of it). Call it after the last optimizer step."""
    from . import behaviour, evaluate, scoring
    from .model import set_cpu_packed_inference

    set_cpu_packed_inference(model, True)  # no optimizer step follows: the fast 4-bit CPU kernel is safe
    # One inference pass per model over every example scored (all of them, or only the validation
    # split without scoring); the validation split's aggregate loss comes from the same pass.
    metrics = results.metrics()
    started = time.perf_counter()
    scored = _score_examples(cfg, model, tokenizer, items if spec.score_examples else _validation(items))
    scoring_seconds = time.perf_counter() - started
    validation_scores = [s for s in scored if s["split_used"] == "validation"]
    base_val, adapter_val = scoring.pooled_losses(validation_scores)
    control = _control(spec)
    behaviour_run = None
    if spec.behaviour:
        behaviour_run = _behaviour(spec, cfg, model, tokenizer, items, control[0], train_seconds)
        metrics.update(results.metrics(behaviour_seconds=behaviour_run["seconds"]))
    val_convs = [it.conversation for it in _validation(items)]
    comparison = evaluate.compare(
        model,
        tokenizer,
        [],  # the losses are given: no features to forward again
        val_convs,
        0 if behaviour_run is not None else spec.n_samples,  # the behavioural evaluation's answers are reused
        spec.max_new_tokens,
        cfg.batch_size,
        losses=(evaluate.loss_summary(*base_val), evaluate.loss_summary(*adapter_val)),
    )
    samples = comparison["samples"] if behaviour_run is None else behaviour.samples(behaviour_run, spec.n_samples)
    metrics.update(
        results.metrics(
            val_loss_base=results.clean_float(comparison["base"]["loss"]),
            val_perplexity_base=results.clean_float(comparison["base"]["perplexity"]),
            val_loss_adapter=results.clean_float(comparison["adapter"]["loss"]),
            val_perplexity_adapter=results.clean_float(comparison["adapter"]["perplexity"]),
            val_tokens=comparison["adapter"]["tokens"],
        )
    )
    example_scores: list[results.ExampleScore] = []
    forgetting: results.ForgettingReport | None = None
    if spec.score_examples:
        example_scores = scored
        forgetting = _forgetting(spec, cfg, model, tokenizer, control, validation_scores, metrics, scoring_seconds)
    return FinalEvaluation(metrics, samples, example_scores, forgetting, behaviour_run)


def _validation(items: list[Scored]) -> list[Scored]:
    return [it for it in items if it.split_used == "validation"]


def _score_examples(cfg: Any, model: Any, tokenizer: Any, items: list[Scored]) -> list[results.ExampleScore]:
    """Per-example loss (base and adapter) of `items`, in their order."""
    from . import scoring

    return scoring.score_examples(
        model,
        tokenizer,
        items,
        max_seq_length=cfg.max_seq_length,
        packing=cfg.packing,
        batch_size=cfg.batch_size,
    )


def _control(spec: Any) -> tuple[list[Any], str]:
    """The control conversations (the project's own, or the built-in set) and their source."""
    from .control_set import control_conversations
    from .data import load_conversations

    if spec.control_examples is None:
        return control_conversations(), "builtin"
    return load_conversations(spec.control_examples), "project"


def _behaviour(
    spec: Any,
    cfg: Any,
    model: Any,
    tokenizer: Any,
    items: list[Scored],
    control: list[Any],
    train_seconds: float | None,
) -> results.BehaviourRun:
    """Base and adapter answers to the validation prompts (with their categories) and a control sample."""
    from .behaviour import Item, run_behaviour

    categories = spec.example_categories or {}

    def category(source: str, index: int) -> str:
        known = categories.get(source) or []
        return str(known[index] or "") if 0 <= index < len(known) else ""

    validation = [
        Item(it.conversation, "validation", it.source, it.index, category(it.source, it.index))
        for it in _validation(items)
    ]
    share = spec.behaviour_time_share
    return run_behaviour(
        model,
        tokenizer,
        validation=validation,
        control=[Item(c, "control", "control", i) for i, c in enumerate(control)],
        n_samples=spec.n_samples,
        max_new_tokens=spec.max_new_tokens,
        seed=cfg.seed,
        budget_seconds=None if share is None or train_seconds is None else share * float(train_seconds),
    )


def _forgetting(
    spec: Any,
    cfg: Any,
    model: Any,
    tokenizer: Any,
    control_set: tuple[list[Any], str],
    validation_scores: list[results.ExampleScore],
    metrics: results.Metrics,
    scoring_seconds: float,
) -> results.ForgettingReport:
    """The forgetting check; its time and the scoring's go into `metrics` (scoring_seconds,
    forgetting_seconds)."""
    from . import scoring

    started = time.perf_counter()
    general = spec.general_examples or {}
    wanted = {(source, int(i)) for source, indices in general.items() for i in indices}
    general_scores = [s for s in validation_scores if (s["source"], s["index"]) in wanted]
    control, source = control_set
    forgetting = scoring.forgetting_check(
        model,
        tokenizer,
        control=control,
        source=source,
        general_scores=general_scores,
        validation_scores=validation_scores,
        max_seq_length=cfg.max_seq_length,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        max_new_tokens=min(spec.max_new_tokens, scoring.CONTROL_NEW_TOKENS),
    )
    metrics.update(results.metrics(scoring_seconds=scoring_seconds, forgetting_seconds=time.perf_counter() - started))
    return forgetting
