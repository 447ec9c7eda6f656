"""Training with the Hugging Face Trainer: progress through a callable, cooperative cancellation, resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import distributed
from .config import TrainConfig
from .data import IGNORE_INDEX, Collator
from .model import device_type

ProgressFn = Callable[[dict[str, Any]], None]
StopFn = Callable[[], bool]

PROGRESS_KEYS = (
    "event",  # "start" | "ranks" (several processes: "pids" in rank order) | "log" | "eval" | "end"
    "step",
    "max_steps",
    "epoch",
    "loss",
    "learning_rate",
    "grad_norm",
    "tokens_seen",  # non-padding tokens since the start of the job (survives resume)
    "tokens_per_second",  # non-padding tokens per second in this session
    "elapsed_seconds",
    "eta_seconds",
    "eval_loss",
)


@dataclass
class TrainOutcome:
    global_step: int
    max_steps: int
    cancelled: bool
    resumed_from: str | None
    train_loss: float | None  # mean over the session (Trainer's figure)
    last_loss: float | None  # last logged training loss
    loss_history: list[dict[str, float]] = field(default_factory=list)
    eval_history: list[dict[str, float]] = field(default_factory=list)
    runtime_seconds: float = 0.0
    tokens_seen: int = 0
    tokens_per_second: float = 0.0
    # FSDP: the adapter gathered from the shards at the end (rank 0 wrote it), to evaluate and save from.
    gathered_adapter: str | None = None


def progress_callback_class() -> Any:
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Reports each log / eval through `on_progress` and stops when `should_stop()` turns true."""

        def __init__(self, on_progress: ProgressFn, should_stop: StopFn) -> None:
            self.on_progress = on_progress
            self.should_stop = should_stop
            self.cancelled = False
            self.start = time.perf_counter()
            self.start_step = 0
            self.start_tokens = 0

        def _report(self, state: Any, **values: Any) -> None:
            elapsed = time.perf_counter() - self.start
            done = state.global_step - self.start_step
            tokens = state.num_input_tokens_seen - self.start_tokens
            eta = elapsed / done * max(state.max_steps - state.global_step, 0) if done > 0 else None
            event: dict[str, Any] = dict.fromkeys(PROGRESS_KEYS)
            event.update(
                step=state.global_step,
                max_steps=state.max_steps,
                epoch=state.epoch,
                tokens_seen=state.num_input_tokens_seen,
                tokens_per_second=tokens / elapsed if elapsed > 0 else None,
                elapsed_seconds=elapsed,
                eta_seconds=eta,
            )
            event.update(values)
            self.on_progress(event)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = time.perf_counter()
            self.start_step = state.global_step
            self.start_tokens = state.num_input_tokens_seen
            self._report(state, event="start")
            if distributed.world_size() > 1:  # every rank takes part; rank 0 reports who they are
                pids = distributed.all_pids()
                self.on_progress({**dict.fromkeys(PROGRESS_KEYS), "event": "ranks", "pids": pids})

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            logs = logs or {}
            if "loss" in logs:
                self._report(
                    state,
                    event="log",
                    loss=logs["loss"],
                    learning_rate=logs.get("learning_rate"),
                    grad_norm=logs.get("grad_norm"),
                )
            elif "eval_loss" in logs:
                self._report(state, event="eval", eval_loss=logs["eval_loss"])

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if distributed.agree_to_stop(self.should_stop()):
                self.cancelled = True
                control.should_training_stop = True
                control.should_save = True  # a re-queued job can resume from here

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._report(state, event="end")

    return ProgressCallback


def answer_positions(labels: Any) -> tuple[Any, Any]:
    """(keep, targets) for a causal LM's loss: `keep[b, t]` is true where position t's next token is labelled
    (the loss reads the logits there and nowhere else) and `targets` are those labels, in `keep`'s row-major
    order, the order in which `hidden_states[keep]` lists the positions."""
    import torch

    following = labels[:, 1:]
    wanted = following != IGNORE_INDEX
    return torch.nn.functional.pad(wanted, (0, 1), value=False), following[wanted]


def head_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any, check: bool = False) -> Any:
    """The causal LM loss of `inputs`, with the logits computed only at the positions it reads.

    The model's forward gets `logits_to_keep=keep` (a boolean mask: transformers' `slice_logits_to_keep` runs the
    output head on `hidden_states[keep]` only, then the model's own logit scaling or soft-capping) and no labels;
    the loss is the sum of those positions' token losses over `num_items_in_batch` (the mean without it), as
    the model's own loss function (`ForCausalLMLoss`) computes it from the logits of every position.
    `check`: None instead where the model gave logits in another shape (a forward that ignores the mask)."""
    import torch

    keep, targets = answer_positions(inputs["labels"])
    outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, logits_to_keep=keep)
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    if check and (logits.dim() != 2 or logits.shape[0] != targets.shape[0]):
        return None
    if num_items_in_batch is None:
        return torch.nn.functional.cross_entropy(logits.float(), targets)
    loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(loss.device)
    return loss / num_items_in_batch


def _trainer_class() -> Any:
    from transformers import Trainer

    class EngineTrainer(Trainer):
        """The Hugging Face Trainer, with the output head run only where the loss reads it (`head_loss`).

        A chat batch's loss reads the logits of the answers' tokens only, about half of its positions (the
        system prompt, the questions and the padding: none). The output head (hidden size x vocabulary: for
        a small model the largest matrix product of the step, 49,152 columns for SmolLM2) and the softmax over
        the vocabulary ran on every position all the same. Same loss, same gradients, same result; a model
        whose forward does not honour a boolean `logits_to_keep` (tried on the first step) keeps the standard
        path, and so do evaluation, label smoothing and custom loss functions."""

        compact_head: bool | None = None  # None: not tried yet

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            standard = (
                return_outputs
                or self.compact_head is False
                or "labels" not in inputs
                or self.label_smoother is not None
                or self.compute_loss_func is not None
            )
            loss = None
            if not standard:
                if self.compact_head is None:
                    try:
                        loss = head_loss(model, inputs, num_items_in_batch, check=True)
                    except (TypeError, ValueError, IndexError):
                        loss = None
                    self.compact_head = loss is not None
                else:
                    loss = head_loss(model, inputs, num_items_in_batch)
            if loss is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # As Trainer.compute_loss: token counts summed over the processes, gradients averaged across them.
            if (
                self.args.average_tokens_across_devices
                and self.model_accepts_loss_kwargs
                and num_items_in_batch is not None
            ):
                loss_scale = self.accelerator.num_processes // self.get_tp_size()
                loss *= loss_scale if self.args.n_gpu <= 1 else self.args.n_gpu
            return loss

    return EngineTrainer


def planned_steps(cfg: TrainConfig, n_features: int) -> int:
    """Optimizer steps the run will take: max_steps, or epochs over the batches (each step takes
    batch_size x gradient_accumulation_steps examples on each of the num_processes processes)."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    batches = math.ceil(n_features / (cfg.batch_size * cfg.num_processes))
    per_epoch = max(1, math.ceil(batches / cfg.gradient_accumulation_steps))
    return max(1, math.ceil(per_epoch * cfg.epochs))


def logging_interval(cfg: TrainConfig, steps: int) -> int:
    """The configured interval, shortened for short runs so that the loss chart gets about 20 points."""
    return max(1, min(cfg.logging_steps, steps // 20))


def training_arguments(
    cfg: TrainConfig,
    checkpoint_dir: Path,
    has_eval: bool,
    steps: int | None = None,
    factory: Any = None,
    **extra: Any,
) -> Any:
    """The Trainer's arguments for `cfg`; `factory` (a TrainingArguments subclass, e.g. TRL's DPOConfig) and
    `extra` (its own fields, or replacements) let another trainer share them."""
    import torch
    from transformers import TrainingArguments

    cuda = device_type() == "cuda"
    eval_steps = cfg.eval_steps if has_eval and cfg.eval_steps > 0 else None
    arguments: dict[str, Any] = dict(
        **_parallel_arguments(cfg, cuda),
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        logging_steps=logging_interval(cfg, steps) if steps else cfg.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if eval_steps else "no",
        eval_steps=eval_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        use_cpu=not cuda,
        report_to="none",
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        dataloader_num_workers=0,
        optim="adamw_torch",
        save_only_model=False,
        push_to_hub=False,
    )
    return (factory or TrainingArguments)(**{**arguments, **extra})


def _parallel_arguments(cfg: TrainConfig, cuda: bool) -> dict[str, Any]:
    """Under `accelerate launch` the Trainer wraps the model in DDP (or FSDP) by itself; these say how."""
    if distributed.world_size() < 2:
        return {}
    # Every adapter parameter gets a gradient on each step: no search for unused ones (costly, and it
    # breaks with gradient checkpointing).
    arguments: dict[str, Any] = {"ddp_backend": "nccl" if cuda else "gloo", "ddp_find_unused_parameters": False}
    if distributed.local_world_size() < distributed.world_size():
        # Several machines: each keeps its own copy of the checkpoints, so that every node finds the
        # last one in its own folder when the job resumes.
        arguments["save_on_each_node"] = True
    if cfg.distributed == "fsdp":
        arguments.update(fsdp="full_shard auto_wrap", fsdp_config=fsdp_config())
    return arguments


def fsdp_config() -> dict[str, Any]:
    """FSDP for PEFT: frozen base and trainable adapter wrapped apart (PEFT's wrap policy, set on the
    Trainer's plugin in `train`), original parameters off so the frozen shards free memory, the base
    read once on rank 0 and sent to the others (cpu_ram_efficient_loading + sync_module_states)."""
    return {
        "use_orig_params": False,
        "cpu_ram_efficient_loading": True,
        "sync_module_states": True,
        "state_dict_type": "SHARDED_STATE_DICT",
        "activation_checkpointing": False,
    }


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoint_dir)) if checkpoint_dir.is_dir() else None


def train(
    model: Any,
    tokenizer: Any,
    train_features: list[dict[str, list[int]]],
    eval_features: list[dict[str, list[int]]],
    cfg: TrainConfig,
    checkpoint_dir: str | Path,
    on_progress: ProgressFn,
    should_stop: StopFn,
) -> TrainOutcome:
    """Train `model` (a PEFT model) on tokenized features; resumes from the last checkpoint in `checkpoint_dir`."""
    from transformers import PrinterCallback

    checkpoint_dir = Path(checkpoint_dir)
    callback = progress_callback_class()(on_progress, should_stop)
    trainer = _trainer_class()(
        model=model,
        args=training_arguments(cfg, checkpoint_dir, bool(eval_features), planned_steps(cfg, len(train_features))),
        train_dataset=train_features,  # type: ignore[arg-type]
        eval_dataset=eval_features or None,  # type: ignore[arg-type]
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # progress goes through on_progress, not stdout
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    if plugin is not None:
        from peft.utils.other import fsdp_auto_wrap_policy

        plugin.auto_wrap_policy = fsdp_auto_wrap_policy(trainer.model)
    resume = last_checkpoint(checkpoint_dir)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    runtime = time.perf_counter() - started
    gathered = None
    if plugin is not None and not callback.cancelled:
        # Every rank takes part in gathering the full adapter; rank 0 writes it.
        gathered = str(checkpoint_dir.parent / "gathered-adapter")
        plugin.set_state_dict_type("FULL_STATE_DICT")
        trainer.save_model(gathered)
    state = trainer.state
    losses = [{"step": h["step"], "loss": h["loss"]} for h in state.log_history if "loss" in h]
    evals = [{"step": h["step"], "eval_loss": h["eval_loss"]} for h in state.log_history if "eval_loss" in h]
    session_tokens = state.num_input_tokens_seen - callback.start_tokens
    return TrainOutcome(
        global_step=state.global_step,
        max_steps=state.max_steps,
        cancelled=callback.cancelled,
        resumed_from=resume,
        train_loss=result.training_loss,
        last_loss=losses[-1]["loss"] if losses else None,
        loss_history=losses,
        eval_history=evals,
        runtime_seconds=runtime,
        tokens_seen=state.num_input_tokens_seen,
        tokens_per_second=session_tokens / runtime if runtime > 0 else 0.0,
        gathered_adapter=gathered,
    )
