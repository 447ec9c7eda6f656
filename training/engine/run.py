"""The one entry point the platform's worker child process calls: `run_job(spec, on_progress, should_stop)`.

Output folder layout (`spec.output_dir`):
    checkpoints/checkpoint-<step>/   Trainer checkpoints (adapter + optimizer + scheduler + RNG state)
    adapter/                         final adapter: adapter_model.safetensors, adapter_config.json, README.md
    result.json                      the JobResult as JSON
A second call with the same output folder resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import distributed, results
from .behaviour import BUDGET_SHARE
from .errors import ConfigError, EmptyDatasetError, EngineError, ModelNotFoundError, OutOfMemoryError

Examples = Sequence[Any] | str | Path


@dataclass
class JobSpec:
    """What to train. Examples are lists of messages (`[{"role", "content"}]`), `{"messages": [...]}` dicts,
    or a path to a JSONL file of either. With no validation examples, `config["eval_fraction"]` of the
    training examples is held out (deterministically, by seed)."""

    base_model_path: str
    train_examples: Examples
    output_dir: str
    config: dict[str, Any] = field(default_factory=dict)
    validation_examples: Examples | None = None
    dataset_hash: str = ""
    n_samples: int = 5  # validation prompts generated before / after (the first of the behavioural evaluation's)
    # Most new tokens per generated answer (the behavioural evaluation uses fewer when the references are short).
    max_new_tokens: int = 128
    quantized_cache_dir: str | None = None  # QLoRA: where 4-bit copies of base models are kept
    # Forgetting check: general-purpose conversations (a JSONL path or a list); None = the built-in set.
    control_examples: Examples | None = None
    # The project's general-category examples, as line indices per source file ({"train": [...],
    # "validation": [...]}): those the engine validates on join the control set.
    general_examples: dict[str, list[int]] | None = None
    score_examples: bool = True  # per-example loss and the forgetting check after a successful run
    init_adapter_path: str | None = None  # continue training: a saved adapter whose weights the job starts from
    # How that adapter's base was loaded when it was trained ("qlora": 4-bit): a DPO job loads it the same way.
    init_adapter_method: str | None = None
    # The project's default system prompt: first in every conversation without a system turn (see data.py).
    system_prompt: str = ""
    # Each example's category, per source file and line ({"train": [...], "validation": [...]}; "" = none):
    # the behavioural evaluation reports per category.
    example_categories: dict[str, list[str]] | None = None
    # After a successful run: base and adapter answer the validation prompts and a control sample (behaviour.py),
    # within this share of the training time (None: no time limit).
    behaviour: bool = True
    behaviour_time_share: float | None = BUDGET_SHARE
    # Method "dpo": preference pairs (TRL's conversational format, see preference_pairs.py) as a JSONL path or
    # a list, and optional held-out pairs (None: eval_fraction of the pairs is held out).
    preference_examples: Examples | None = None
    preference_validation: Examples | None = None


@dataclass
class JobResult:
    cancelled: bool
    adapter_dir: str | None  # None when cancelled
    adapter_size_bytes: int | None
    metrics: results.Metrics  # see run_job
    samples: list[results.Sample]
    truncation: dict[str, dict[str, int]]  # {"train": TruncationStats, "validation": TruncationStats}
    package_versions: dict[str, str | None]
    config: dict[str, Any]  # the validated config with defaults filled
    loss_history: list[results.LossPoint]
    eval_history: list[results.EvalPoint]
    model_card_path: str | None
    target_modules: list[str]
    # QLoRA: linear layers (full module names) kept in the compute dtype, their shape does not fit the
    # 4-bit kernels (see quant_limits); [] for LoRA / DoRA and for bases with none.
    kept_unquantized: list[str] = field(default_factory=list)
    # Every training and validation example's loss under the adapter and the base (successful jobs).
    example_scores: list[results.ExampleScore] = field(default_factory=list)
    # Base vs adapter on general-purpose conversations (successful jobs); None when cancelled.
    forgetting: results.ForgettingReport | None = None
    # Greedy answers of base and adapter for the behavioural evaluation (successful jobs with `spec.behaviour`).
    behaviour: results.BehaviourRun | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def peak_memory_bytes() -> int | None:
    """The training process's peak memory so far: allocated CUDA memory on a GPU, else the resident set."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return int(torch.cuda.max_memory_allocated())
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux
    except (ImportError, OSError):
        return None


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def run_job(
    spec: JobSpec,
    on_progress: Callable[[dict[str, Any]], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> JobResult:
    """Validate, train (resuming from the last checkpoint), evaluate, save adapter + model card.

    `on_progress` receives dicts with the keys of `trainer.PROGRESS_KEYS`; `should_stop` is polled after
    every optimizer step (True -> a checkpoint is saved and the job returns with `cancelled=True`).
    Raises `ConfigError`, `ModelNotFoundError`, `EmptyDatasetError`, `DataError` or `OutOfMemoryError`.

    metrics: global_step, max_steps, train_loss (session mean), final_loss (last logged), eval_loss (last
    in-training eval), val_loss_base, val_perplexity_base, val_loss_adapter, val_perplexity_adapter,
    val_tokens, train_examples, validation_examples, held_out_examples (validation examples taken from the
    training examples when the spec has none), tokens_seen, tokens_per_second, train_runtime_seconds,
    resumed_from_step, scoring_seconds, forgetting_seconds, behaviour_seconds. The schema (types, labels,
    display formats) is `results.Metrics` / `METRIC_FIELDS`.
    """
    from .config import validate_config

    cfg, errors = validate_config(spec.config, has_parent=bool(spec.init_adapter_path))
    if cfg is None:
        detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
        raise ConfigError(f"Invalid training configuration ({detail})", {"errors": errors})
    try:
        if cfg.method == "dpo":
            from .dpo import run_dpo

            result = JobResult(**run_dpo(spec, cfg, on_progress, should_stop))
            result.metrics.update(results.metrics(peak_memory_bytes=peak_memory_bytes()))
            write_result(Path(spec.output_dir), result)
            return result
        return _run(spec, cfg, on_progress, should_stop)
    except EngineError:
        raise
    except Exception as exc:
        if _is_oom(exc):
            raise OutOfMemoryError(
                "Out of memory while training: lower batch_size or max_seq_length, enable gradient_checkpointing "
                f"or use method 'qlora' ({type(exc).__name__})"
            ) from exc
        raise


def _run(spec: JobSpec, cfg: Any, on_progress: Callable, should_stop: Callable) -> JobResult:
    from . import artifacts
    from .data import build_features
    from .final_evaluation import evaluate_trained, split_examples
    from .model import build_peft_model, load_tokenizer, quantization_plan
    from .trainer import last_checkpoint, train

    base = Path(spec.base_model_path)
    if base.is_absolute() and not base.exists():
        raise ModelNotFoundError(f"Base model folder not found: {base}")
    split = split_examples(spec, cfg)
    if not any(it.source == "train" for it in split.items):
        raise EmptyDatasetError("The training set is empty")
    train_convs, val_convs = split.train, split.validation

    tokenizer = load_tokenizer(spec.base_model_path)
    train_features, train_stats = build_features(tokenizer, train_convs, cfg.max_seq_length, cfg.packing)
    val_features, val_stats = build_features(tokenizer, val_convs, cfg.max_seq_length, packing=False)
    if not train_features:
        raise EmptyDatasetError(
            f"No training example keeps an assistant answer within max_seq_length={cfg.max_seq_length} tokens"
        )

    out = Path(spec.output_dir)
    checkpoints = out / "checkpoints"
    resumed = last_checkpoint(checkpoints)
    skip_plan = quantization_plan(spec.base_model_path, cfg.method)  # before loading: known at launch
    kept_unquantized = sorted(skip_plan.unsupported) if skip_plan else []
    model = build_peft_model(spec.base_model_path, cfg, spec.quantized_cache_dir, skip_plan)
    if spec.init_adapter_path and not resumed:  # continue training (a resume restores its own checkpoint)
        from .warm_start import load_adapter_weights

        load_adapter_weights(model, spec.init_adapter_path)
    targets = sorted(next(iter(model.peft_config.values())).target_modules)
    outcome = train(model, tokenizer, train_features, val_features, cfg, checkpoints, on_progress, should_stop)
    loss_history = [results.loss_point(p["step"], p["loss"]) for p in outcome.loss_history]
    eval_history = [results.eval_point(p["step"], p["eval_loss"]) for p in outcome.eval_history]
    metrics = results.metrics(
        global_step=outcome.global_step,
        max_steps=outcome.max_steps,
        train_loss=_clean(outcome.train_loss),
        final_loss=_clean(outcome.last_loss),
        eval_loss=eval_history[-1]["eval_loss"] if eval_history else None,
        train_examples=len(train_convs),
        validation_examples=len(val_convs),
        held_out_examples=split.held_out,
        tokens_seen=outcome.tokens_seen,
        tokens_per_second=outcome.tokens_per_second,
        train_runtime_seconds=outcome.runtime_seconds,
        resumed_from_step=int(resumed.rsplit("-", 1)[-1]) if resumed else None,
        peak_memory_bytes=peak_memory_bytes(),
    )
    truncation = {"train": train_stats.to_dict(), "validation": val_stats.to_dict()}
    versions = artifacts.package_versions()
    common = dict(
        package_versions=versions,
        config=cfg.to_dict(),
        loss_history=loss_history,
        eval_history=eval_history,
        truncation=truncation,
        target_modules=targets,
        kept_unquantized=kept_unquantized,
    )
    if distributed.world_size() > 1:
        # Training is over on every rank: the others leave, rank 0 evaluates and saves alone.
        distributed.leave()
        if outcome.gathered_adapter and distributed.is_main() and not outcome.cancelled:
            model = _reload_sharded(spec, cfg, model, outcome.gathered_adapter, skip_plan)
    if outcome.cancelled or not distributed.is_main():
        result = JobResult(cancelled=outcome.cancelled, adapter_dir=None, adapter_size_bytes=None, metrics=metrics,
                           samples=[], model_card_path=None, **common)  # fmt: skip
        if distributed.is_main():
            write_result(out, result)
        return result

    evaluation = evaluate_trained(spec, cfg, model, tokenizer, split.items, outcome.runtime_seconds)
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
            "truncation": truncation,
            "package_versions": versions,
            "samples": evaluation.samples,
            "forgetting": evaluation.forgetting,
        },
    )
    result = JobResult(
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
    write_result(out, result)
    return result


def _reload_sharded(spec: JobSpec, cfg: Any, sharded: Any, adapter_dir: str, skip_plan: Any) -> Any:
    """FSDP leaves each rank a shard of the model. Rank 0 frees its shard and loads the base again for
    the evaluation, spread over the node's devices (a base sharded for training may not fit one), with
    the adapter the ranks gathered at the end of training."""
    import gc

    from .model import load_for_evaluation

    del sharded
    gc.collect()
    return load_for_evaluation(spec.base_model_path, cfg, adapter_dir, skip_plan)


def write_result(out: Path, result: JobResult) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8")
