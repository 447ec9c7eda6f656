"""Preference training (DPO) of an existing adapter with TRL's DPOTrainer; `run.run_job` calls `run_dpo` for
method "dpo" and makes its `JobResult` from the fields returned.

The base loads as the parent adapter was trained on it (4-bit NF4 under a QLoRA adapter, see
`spec.init_adapter_method`; full precision otherwise), with the parent adapter on top as the trainable PEFT
model. The reference is the SFT adapter as it was (TRL keeps a frozen copy of it): DPO moves the adapter
towards the chosen answers while the KL term keeps it near what SFT learned, as the method intends.

Preference accuracy is the model's own preference, measured the same way before and after: the share of
held-out pairs whose chosen answer it finds more likely than the rejected one, per token (mean log-likelihood
of the answer's tokens after the prompt, so a longer answer is not penalised for its length). Before: the SFT
adapter; after: the trained one. (TRL's eval_rewards/accuracies compares with the reference, which is the
starting adapter itself, so it is 0 before any step and cannot give a "before"; after training it is kept as
`reward_accuracy`: the share of held-out pairs the training moved towards the chosen answer.)
Progress, cancellation, checkpoints, the saved adapter and the model card are the SFT run's, and so is what
is measured after training (`final_evaluation`): per-example loss base vs adapter on the job's dataset version
(split as an SFT job splits it), the validation loss, the behavioural evaluation with its samples and the
forgetting check.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import results
from .config import TrainConfig
from .errors import ConfigError, DataError, EmptyDatasetError, ModelNotFoundError


def split_pairs(spec: Any, cfg: TrainConfig) -> tuple[list[dict], list[dict], int]:
    """(train, validation, held out): the validation file's pairs, or eval_fraction of the training pairs held
    out by seed (at least one: preference accuracy needs pairs the adapter did not train on)."""
    from .data import held_out_indices
    from .preference_pairs import load_pairs

    if not spec.preference_examples:
        raise DataError("A dpo job needs preference pairs (preferences.jsonl)")
    train = load_pairs(spec.preference_examples, spec.system_prompt)
    if spec.preference_validation is not None:
        return train, load_pairs(spec.preference_validation, spec.system_prompt), 0
    held = set(held_out_indices(len(train), max(cfg.eval_fraction, 1e-9), cfg.seed))
    validation = [p for i, p in enumerate(train) if i in held]
    return [p for i, p in enumerate(train) if i not in held], validation, len(validation)


def answer_log_likelihood(model: Any, tokenizer: Any, prompt: list[dict], answer: list[dict]) -> float:
    """Mean log-likelihood per token of `answer` (the assistant turn) after `prompt`, under the chat template."""
    import torch

    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    full_ids = tokenizer.apply_chat_template(prompt + answer, tokenize=True)
    if hasattr(prompt_ids, "input_ids"):  # a BatchEncoding in newer tokenizers
        prompt_ids, full_ids = prompt_ids["input_ids"], full_ids["input_ids"]
    start = len(prompt_ids)
    if len(full_ids) <= start:
        return float("-inf")
    ids = torch.tensor([full_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    log_probs = torch.log_softmax(logits, dim=-1)
    targets = ids[0, 1:]
    picked = log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)[start - 1 :]
    return float(picked.mean())


def preference_accuracy(model: Any, tokenizer: Any, pairs: list[dict]) -> float | None:
    """Share of `pairs` whose chosen answer the model finds more likely per token than the rejected one."""
    if not pairs:
        return None
    training = model.training
    model.eval()
    try:
        prefers = [
            answer_log_likelihood(model, tokenizer, p["prompt"], p["chosen"])
            > answer_log_likelihood(model, tokenizer, p["prompt"], p["rejected"])
            for p in pairs
        ]
    finally:
        model.train(training)
    return sum(prefers) / len(prefers)


def run_dpo(spec: Any, cfg: TrainConfig, on_progress: Any, should_stop: Any) -> dict[str, Any]:
    """Train the parent adapter (`spec.init_adapter_path`) on `spec.preference_examples`; the `run.JobResult`
    fields (the adapter saved with its model card unless cancelled)."""
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    from . import artifacts
    from .final_evaluation import evaluate_trained, split_examples
    from .model import load_base, load_tokenizer, quantization_plan
    from .trainer import last_checkpoint, planned_steps, progress_callback_class, training_arguments

    if not spec.init_adapter_path or not Path(spec.init_adapter_path, "adapter_config.json").is_file():
        raise ConfigError("dpo trains an existing adapter: the job has no adapter to continue from", {})
    base_path = Path(spec.base_model_path)
    if base_path.is_absolute() and not base_path.exists():
        raise ModelNotFoundError(f"Base model folder not found: {base_path}")
    train_pairs, val_pairs, held_out = split_pairs(spec, cfg)
    if not train_pairs:
        raise EmptyDatasetError("There are no preference pairs to train on")
    split = split_examples(spec, cfg)  # the dataset version's conversations: evaluated after training

    out = Path(spec.output_dir)
    checkpoints = out / "checkpoints"
    resumed = last_checkpoint(checkpoints)
    tokenizer = load_tokenizer(spec.base_model_path)
    # The parent's base as it was trained: 4-bit under a QLoRA adapter (the SFT job's quantised copy, if cached).
    method = "qlora" if spec.init_adapter_method == "qlora" else cfg.method
    skip_plan = quantization_plan(spec.base_model_path, method)
    kept_unquantized = sorted(skip_plan.unsupported) if skip_plan else []
    base = load_base(spec.base_model_path, method, cfg.gradient_checkpointing, spec.quantized_cache_dir, skip_plan)
    model: Any = PeftModel.from_pretrained(base, spec.init_adapter_path, is_trainable=True)
    for config in model.peft_config.values():
        config.base_model_name_or_path = str(spec.base_model_path)

    steps = planned_steps(cfg, len(train_pairs))
    args = training_arguments(
        cfg,
        checkpoints,
        bool(val_pairs),
        steps,
        factory=DPOConfig,
        beta=cfg.beta,
        max_length=cfg.max_seq_length,
        per_device_eval_batch_size=1,  # TRL averages per batch: one pair per batch makes accuracy a share of pairs
        include_num_input_tokens_seen="no",
    )
    callback = progress_callback_class()(on_progress, should_stop)
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_pairs),
        eval_dataset=Dataset.from_list(val_pairs) if val_pairs else None,
        processing_class=tokenizer,
        callbacks=[callback],
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)

    before = preference_accuracy(trainer.model, tokenizer, val_pairs) if val_pairs and not resumed else None
    started = time.perf_counter()
    outcome = trainer.train(resume_from_checkpoint=resumed)
    runtime = time.perf_counter() - started
    state = trainer.state
    losses = [results.loss_point(h["step"], h["loss"]) for h in state.log_history if "loss" in h]
    evals = [results.eval_point(h["step"], h["eval_loss"]) for h in state.log_history if "eval_loss" in h and h["step"]]
    after = reward_accuracy = None
    if val_pairs and not callback.cancelled:
        after = preference_accuracy(trainer.model, tokenizer, val_pairs)
        # Whether training moved each held-out pair the way DPO pushes (relative to the starting adapter), even
        # where the model does not prefer the chosen answer outright yet.
        reward_accuracy = trainer.evaluate().get("eval_rewards/accuracies")
    metrics = results.metrics(
        global_step=state.global_step,
        max_steps=state.max_steps,
        train_loss=outcome.training_loss,
        final_loss=losses[-1]["loss"] if losses else None,
        eval_loss=evals[-1]["eval_loss"] if evals else None,
        preference_accuracy_before=before,
        preference_accuracy_after=after,
        reward_accuracy=reward_accuracy,
        train_examples=len(train_pairs),
        validation_examples=len(val_pairs),
        held_out_examples=held_out,
        train_runtime_seconds=runtime,
        resumed_from_step=int(resumed.rsplit("-", 1)[-1]) if resumed else None,
    )
    versions = artifacts.package_versions()
    targets = sorted(model.peft_config["default"].target_modules)
    common: dict[str, Any] = dict(
        package_versions=versions,
        config=cfg.to_dict(),
        loss_history=losses,
        eval_history=evals,
        truncation={},
        target_modules=targets,
        kept_unquantized=kept_unquantized,
    )
    if callback.cancelled:
        return dict(cancelled=True, adapter_dir=None, adapter_size_bytes=None, metrics=metrics, samples=[],
                    model_card_path=None, **common)  # fmt: skip
    # TRL's frozen copy of the starting adapter is the reference, not a result: only the trained one is saved.
    trained: Any = trainer.model
    for peft_model in {id(m): m for m in (model, trained)}.values():
        if "ref" in getattr(peft_model, "peft_config", {}):
            peft_model.delete_adapter("ref")
    evaluation = evaluate_trained(spec, cfg, model, tokenizer, split.items, runtime)
    metrics.update(evaluation.metrics)
    adapter_dir = artifacts.save_adapter(model, out / "adapter")
    card = artifacts.write_model_card(
        adapter_dir,
        {
            "base_model": spec.base_model_path,
            "method": cfg.method,
            "dataset_hash": spec.dataset_hash,
            "config": cfg.to_dict(),
            "target_modules": targets,
            "kept_unquantized": kept_unquantized,
            "metrics": metrics,
            "package_versions": versions,
            "samples": evaluation.samples,
            "forgetting": evaluation.forgetting,
        },
    )
    return dict(
        cancelled=False,
        adapter_dir=str(adapter_dir),
        adapter_size_bytes=artifacts.adapter_size_bytes(adapter_dir),
        metrics=metrics,
        samples=evaluation.samples,
        model_card_path=str(card),
        example_scores=evaluation.example_scores,
        forgetting=evaluation.forgetting,
        behaviour=evaluation.behaviour,
        **common,
    )
