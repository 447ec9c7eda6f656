"""Preference training (DPO) of an existing adapter with TRL's DPOTrainer; `run.run_job` calls `run_dpo` for
method "dpo" and makes its `JobResult` from the fields returned.

The base loads at full precision with the parent adapter on top as the trainable PEFT model. The reference
is the base with the adapter disabled: the implicit reward of an answer is beta times how much more likely
the adapter makes it than the base, so preference accuracy (held-out pairs whose chosen answer gets the higher
reward, TRL's eval_rewards/accuracies) says how often the adapter prefers the chosen answer, before and after.
Progress, cancellation, checkpoints, the saved adapter and the model card are the SFT run's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import results
from .config import TrainConfig
from .errors import ConfigError, DataError, EmptyDatasetError, ModelNotFoundError

ACCURACY = "eval_rewards/accuracies"


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


def run_dpo(spec: Any, cfg: TrainConfig, on_progress: Any, should_stop: Any) -> dict[str, Any]:
    """Train the parent adapter (`spec.init_adapter_path`) on `spec.preference_examples`; the `run.JobResult`
    fields (the adapter saved with its model card unless cancelled)."""
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    from . import artifacts
    from .model import load_base, load_tokenizer
    from .trainer import last_checkpoint, planned_steps, progress_callback_class, training_arguments

    if not spec.init_adapter_path or not Path(spec.init_adapter_path, "adapter_config.json").is_file():
        raise ConfigError("dpo trains an existing adapter: the job has no adapter to continue from", {})
    base_path = Path(spec.base_model_path)
    if base_path.is_absolute() and not base_path.exists():
        raise ModelNotFoundError(f"Base model folder not found: {base_path}")
    train_pairs, val_pairs, held_out = split_pairs(spec, cfg)
    if not train_pairs:
        raise EmptyDatasetError("There are no preference pairs to train on")

    out = Path(spec.output_dir)
    checkpoints = out / "checkpoints"
    resumed = last_checkpoint(checkpoints)
    tokenizer = load_tokenizer(spec.base_model_path)
    base = load_base(spec.base_model_path, cfg.method, cfg.gradient_checkpointing)
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
    # TRL copies a pretrained adapter into a frozen "ref" adapter to serve as the reference; the reference here
    # is the base (adapter disabled), so that "before" measures what the SFT adapter already prefers.
    policy: Any = trainer.model
    if "ref" in policy.peft_config:
        policy.delete_adapter("ref")
        policy.set_adapter("default")
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)

    before = trainer.evaluate().get(ACCURACY) if val_pairs and not resumed else None
    started = time.perf_counter()
    outcome = trainer.train(resume_from_checkpoint=resumed)
    runtime = time.perf_counter() - started
    state = trainer.state
    losses = [results.loss_point(h["step"], h["loss"]) for h in state.log_history if "loss" in h]
    evals = [results.eval_point(h["step"], h["eval_loss"]) for h in state.log_history if "eval_loss" in h and h["step"]]
    after = None
    if val_pairs and not callback.cancelled:
        after = trainer.evaluate().get(ACCURACY)
    metrics = results.metrics(
        global_step=state.global_step,
        max_steps=state.max_steps,
        train_loss=outcome.training_loss,
        final_loss=losses[-1]["loss"] if losses else None,
        eval_loss=evals[-1]["eval_loss"] if evals else None,
        preference_accuracy_before=before,
        preference_accuracy_after=after,
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
        kept_unquantized=[],
    )
    if callback.cancelled:
        return dict(cancelled=True, adapter_dir=None, adapter_size_bytes=None, metrics=metrics, samples=[],
                    model_card_path=None, **common)  # fmt: skip
    adapter_dir = artifacts.save_adapter(model, out / "adapter")
    card = artifacts.write_model_card(
        adapter_dir,
        {
            "base_model": spec.base_model_path,
            "method": cfg.method,
            "dataset_hash": spec.dataset_hash,
            "config": cfg.to_dict(),
            "target_modules": targets,
            "metrics": metrics,
            "package_versions": versions,
        },
    )
    return dict(
        cancelled=False,
        adapter_dir=str(adapter_dir),
        adapter_size_bytes=artifacts.adapter_size_bytes(adapter_dir),
        metrics=metrics,
        samples=[],
        model_card_path=str(card),
        **common,
    )
