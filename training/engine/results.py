"""What a finished engine run hands to the platform, and how pages show it: one schema per boundary.

The engine builds samples, metrics and histories with the constructors here (`sample`, `metrics`,
`loss_point`, `eval_point`); the worker stores them on the job (`TrainingJob.result`) and the adapter
(`Adapter.metrics`, `Adapter.samples`); serializers and page context builders read them back through
`samples()`, `display_metrics()` and the formatters, so templates only print display-ready rows.

Pure Python: no torch, no Django (the web process imports this module).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

# -- samples ------------------------------------------------------------------------------------------


class Message(TypedDict):
    role: str
    content: str


class Sample(TypedDict):
    """One validation prompt answered greedily by the base (`before`) and the adapter (`after`)."""

    prompt: list[Message]  # the conversation up to the last assistant turn
    reference: str  # that assistant turn: the answer the dataset holds
    before: str
    after: str


def sample(prompt: Iterable[Mapping[str, Any]], reference: str, before: str, after: str) -> Sample:
    return {
        "prompt": [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt],
        "reference": reference,
        "before": before,
        "after": after,
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _messages(value: Any) -> list[Message]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}] if value else []
    if isinstance(value, Mapping):
        value = value.get("messages", [])
    if not isinstance(value, list):
        return []
    turns: list[Message] = []
    for item in value:
        if isinstance(item, Mapping):
            turns.append({"role": _text(item.get("role") or "user"), "content": _text(item.get("content"))})
        elif item is not None:
            turns.append({"role": "user", "content": _text(item)})
    return turns


def samples(raw: Any) -> list[Sample]:
    """Stored samples as `Sample`s. Rows written by older versions (`messages` / `base` / `adapter` keys,
    a prompt stored as plain text) are mapped onto the current keys; anything else is skipped."""
    if not isinstance(raw, list):
        return []
    out: list[Sample] = []
    for row in raw:
        if not isinstance(row, Mapping):
            continue
        prompt = row.get("prompt", row.get("messages"))
        out.append(
            {
                "prompt": _messages(prompt),
                "reference": _text(row.get("reference")),
                "before": _text(row.get("before", row.get("base"))),
                "after": _text(row.get("after", row.get("adapter"))),
            }
        )
    return out


# -- histories ----------------------------------------------------------------------------------------


class LossPoint(TypedDict):
    step: int
    loss: float


class EvalPoint(TypedDict):
    step: int
    eval_loss: float


def loss_point(step: Any, loss: Any) -> LossPoint:
    return {"step": int(step), "loss": float(loss)}


def eval_point(step: Any, eval_loss: Any) -> EvalPoint:
    return {"step": int(step), "eval_loss": float(eval_loss)}


# -- metrics ------------------------------------------------------------------------------------------


class Metrics(TypedDict, total=False):
    """`JobResult.metrics` (and `Adapter.metrics`); the val_* keys only once the run finished."""

    global_step: int
    max_steps: int
    train_loss: float | None  # mean over the session (the Trainer's figure)
    final_loss: float | None  # last logged training loss
    eval_loss: float | None  # last in-training evaluation
    val_loss_base: float | None
    val_perplexity_base: float | None
    val_loss_adapter: float | None
    val_perplexity_adapter: float | None
    val_tokens: int
    train_examples: int  # what the engine trained on (after holding out validation examples)
    validation_examples: int
    held_out_examples: int  # taken from the training examples because the dataset had no validation set
    tokens_seen: int
    tokens_per_second: float
    train_runtime_seconds: float
    resumed_from_step: int | None
    scoring_seconds: float  # per-example loss of every example, base and adapter
    forgetting_seconds: float  # the forgetting check (control set losses and generations)


def clean_float(value: Any) -> float | None:
    """A finite float, or None (NaN / inf / missing)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def metrics(**values: Any) -> Metrics:
    """Metrics with known keys only, floats cleaned of NaN / inf, counts as ints."""
    unknown = set(values) - set(Metrics.__annotations__)
    if unknown:
        raise TypeError(f"Unknown metric keys: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = FIELDS_BY_KEY[key].kind if key in FIELDS_BY_KEY else "count"
        if value is None:
            out[key] = None
        elif kind in ("count", "step", "tokens"):
            out[key] = int(value)
        else:
            out[key] = clean_float(value)
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class MetricField:
    key: str
    label: str
    kind: str  # loss | perplexity | step | count | tokens | seconds | rate


# Display order and labels: pages, the compare view and the adapter list use this table only.
METRIC_FIELDS: tuple[MetricField, ...] = (
    MetricField("val_loss_base", "Validation loss, base", "loss"),
    MetricField("val_loss_adapter", "Validation loss, adapter", "loss"),
    MetricField("val_perplexity_base", "Validation perplexity, base", "perplexity"),
    MetricField("val_perplexity_adapter", "Validation perplexity, adapter", "perplexity"),
    MetricField("final_loss", "Final training loss", "loss"),
    MetricField("train_loss", "Mean training loss", "loss"),
    MetricField("eval_loss", "Last in-training validation loss", "loss"),
    MetricField("global_step", "Steps", "step"),
    MetricField("max_steps", "Planned steps", "step"),
    MetricField("resumed_from_step", "Resumed from step", "step"),
    MetricField("train_examples", "Training examples", "count"),
    MetricField("validation_examples", "Validation examples", "count"),
    MetricField("held_out_examples", "Held out from training", "count"),
    MetricField("val_tokens", "Validation tokens", "tokens"),
    MetricField("tokens_seen", "Tokens trained on", "tokens"),
    MetricField("tokens_per_second", "Throughput", "rate"),
    MetricField("train_runtime_seconds", "Training time", "seconds"),
    MetricField("scoring_seconds", "Per-example scoring time", "seconds"),
    MetricField("forgetting_seconds", "Forgetting check time", "seconds"),
    # Keys written by older versions and combined adapters.
    MetricField("validation_loss", "Validation loss", "loss"),
    MetricField("perplexity", "Perplexity", "perplexity"),
    MetricField("base_perplexity", "Base perplexity", "perplexity"),
)
FIELDS_BY_KEY = {f.key: f for f in METRIC_FIELDS}
# The few figures a list row shows.
HEADLINE_METRICS = ("val_loss_adapter", "val_perplexity_adapter", "final_loss", "eval_loss", "perplexity")


def format_seconds(seconds: Any) -> str:
    value = clean_float(seconds)
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_count(value: Any) -> str:
    number = clean_float(value)
    return "—" if number is None else f"{round(number):,}"


def format_value(kind: str, value: Any) -> str:
    """One metric value as text: loss 4 decimals, perplexity 1–2, steps and counts as integers."""
    if kind in ("step", "count", "tokens"):
        text = format_count(value)
        return f"{text} tokens" if kind == "tokens" and text != "—" else text
    if kind == "seconds":
        return format_seconds(value)
    number = clean_float(value)
    if number is None:
        return "—" if value is None or not isinstance(value, str) else value
    if kind == "loss":
        return f"{number:.4f}"
    if kind == "perplexity":
        return f"{number:,.2f}" if number < 100 else f"{number:,.1f}"
    if kind == "rate":
        return f"{number:,.0f} tokens/s"
    return f"{number:.4g}"


class MetricRow(TypedDict):
    key: str
    label: str
    value: str


def display_metrics(raw: Mapping[str, Any] | None, *, keys: Iterable[str] | None = None) -> list[MetricRow]:
    """(label, formatted value) rows in METRIC_FIELDS order; unknown scalar keys follow, by name.

    Missing (None) values are left out. `keys` limits the rows to those keys.
    """
    raw = raw if isinstance(raw, Mapping) else {}
    wanted = set(keys) if keys is not None else None
    rows: list[MetricRow] = []
    for f in METRIC_FIELDS:
        if f.key in raw and raw[f.key] is not None and (wanted is None or f.key in wanted):
            rows.append({"key": f.key, "label": f.label, "value": format_value(f.kind, raw[f.key])})
    for key in sorted(k for k in raw if k not in FIELDS_BY_KEY):
        value = raw[key]
        if value is None or isinstance(value, dict | list) or (wanted is not None and key not in wanted):
            continue
        rows.append({"key": key, "label": key.replace("_", " ").capitalize(), "value": format_value("", value)})
    return rows


def metric_label(key: str) -> str:
    return FIELDS_BY_KEY[key].label if key in FIELDS_BY_KEY else key.replace("_", " ").capitalize()


def format_metric(key: str, value: Any) -> str:
    return format_value(FIELDS_BY_KEY[key].kind if key in FIELDS_BY_KEY else "", value)


def metric_order(key: str) -> tuple[int, str]:
    keys = list(FIELDS_BY_KEY)
    return (keys.index(key) if key in FIELDS_BY_KEY else len(keys), key)


# -- other figures ------------------------------------------------------------------------------------


def format_bytes(size: Any) -> str:
    """1 023 bytes, 16.0 KiB, 4.5 MiB, 1.25 GiB (binary units)."""
    number = clean_float(size)
    if number is None:
        return "—"
    if number < 1024:
        n = round(number)
        return f"{n} byte" if n == 1 else f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        number /= 1024
        if number < 1024 or unit == "TiB":
            return f"{number:.1f} {unit}" if number < 100 else f"{number:.0f} {unit}"
    raise AssertionError("unreachable")


def format_learning_rate(value: Any) -> str:
    """2.0e-04; 0 (the end of a decaying schedule, or the first warm-up step) prints as 0."""
    number = clean_float(value)
    if number is None:
        return "—"
    return "0" if number == 0 else f"{number:.1e}"


@dataclass(frozen=True)
class ExampleCounts:
    """How many examples a job trained and validated on: the engine's figures once it reported them."""

    train: int
    validation: int
    held_out: int  # validation examples the engine took from the training examples
    from_engine: bool

    @property
    def text(self) -> str:
        train = f"{self.train} training + {self.validation} validation examples"
        if self.held_out:
            return (
                f"{train} ({self.held_out} held out from the {self.train + self.held_out} training examples "
                "by the engine, as the dataset has no validation set)"
            )
        return train


def example_counts(
    raw_metrics: Mapping[str, Any] | None, *, launched_train: int, launched_validation: int
) -> ExampleCounts:
    """The counts the engine used (metrics train_examples / validation_examples) once known, else the launch's."""
    m = raw_metrics if isinstance(raw_metrics, Mapping) else {}
    if m.get("train_examples") is None:
        return ExampleCounts(launched_train, launched_validation, 0, from_engine=False)
    train, validation = int(m["train_examples"]), int(m.get("validation_examples") or 0)
    held_out = m.get("held_out_examples")
    if held_out is None:  # results of older versions: infer from the launch's counts
        held_out = validation if launched_validation == 0 and train + validation == launched_train else 0
    return ExampleCounts(train, validation, int(held_out), from_engine=True)


# -- how a job ended ----------------------------------------------------------------------------------

# What to do about a failure, per error code (engine codes, plus the worker's own).
FAILURE_ADVICE = {
    "invalid_config": "Fix the listed settings and launch a new job.",
    "model_not_found": (
        "Check the base model's source in the project settings (a hub id or a folder the worker can read)."
    ),
    "empty_dataset": (
        "Approve more examples, or raise max_seq_length so that the assistant answers fit, then launch again."
    ),
    "invalid_data": "Fix the examples the message names (or create a new dataset version) and launch again.",
    "out_of_memory": (
        "Lower batch_size or max_seq_length, turn on gradient checkpointing or use QLoRA, and launch again."
    ),
    "worker_lost": (
        "The training worker stopped repeatedly: check that it is running and has enough memory, then launch again."
    ),
    "internal": "This is a problem on the platform side: the log below has the details; launch again or report it.",
}


@dataclass(frozen=True)
class JobOutcome:
    """What the job page says about how a job ended (or where it stands), in plain sentences."""

    headline: str
    detail: str = ""  # the error message, for failures
    advice: str = ""  # what to do next, for failures
    resumed: str = ""  # "Resumed from step N after the worker was lost (attempt 2 of 3)."
    tone: str = "info"  # info | success | error | warning


def job_outcome(
    *,
    status: str,
    step: int,
    max_steps: int,
    raw_metrics: Mapping[str, Any] | None = None,
    error: str = "",
    error_code: str = "",
    attempts: int = 0,
    max_attempts: int = 0,
    resumed_from_step: int | None = None,
) -> JobOutcome:
    m = raw_metrics if isinstance(raw_metrics, Mapping) else {}
    resumed_at = m.get("resumed_from_step") if m.get("resumed_from_step") is not None else resumed_from_step
    resumed = ""
    if resumed_at:
        resumed = f"Resumed from step {int(resumed_at)}"
        if attempts > 1:
            resumed += f" after the worker was lost (attempt {attempts} of {max_attempts})"
        resumed += "."
    steps = int(m["global_step"]) if m.get("global_step") is not None else step
    if status == "succeeded":
        runtime = m.get("train_runtime_seconds")
        took = f" in {format_seconds(runtime)} of training" if clean_float(runtime) is not None else ""
        return JobOutcome(f"Finished: {steps} steps{took}.", resumed=resumed, tone="success")
    if status == "cancelled":
        if steps:
            headline = f"Cancelled at step {steps}" + (f" of {max_steps}" if max_steps else "") + "."
        else:
            headline = "Cancelled before training started."
        return JobOutcome(headline, detail=error if error and not steps else "", resumed=resumed, tone="warning")
    if status == "failed":
        where = f" at step {steps}" if steps else ""
        advice = FAILURE_ADVICE.get(error_code, FAILURE_ADVICE["internal"])
        return JobOutcome(
            f"Failed{where}.", detail=error or "No reason was recorded.", advice=advice, resumed=resumed, tone="error"
        )
    if status == "queued":
        # The reaper's note when it re-queued a job whose worker stopped reporting.
        return JobOutcome("Waiting for a training worker.", detail=error, resumed=resumed)
    return JobOutcome(f"Training: step {step}" + (f" of {max_steps}." if max_steps else "."), resumed=resumed)


# -- per-example loss and the forgetting check ---------------------------------------------------------


class ExampleScore(TypedDict):
    """One example scored after a successful job: mean loss over its assistant tokens (no gradients).

    `index` is the example's line index in its source file (`source`: the job's training or validation
    JSONL); `split_used` is where the engine used it (a training line it held out for validation, when the
    job has no validation file, is `source="train"`, `split_used="validation"`). Losses are None when no
    assistant token survived truncation.
    """

    index: int
    source: str  # "train" | "validation"
    split_used: str  # "train" | "validation"
    adapter_loss: float | None
    base_loss: float | None
    tokens: int  # assistant tokens scored
    truncated_tokens: int  # tokens cut by max_seq_length


def example_score(
    *,
    index: int,
    source: str,
    split_used: str,
    adapter_loss: Any,
    base_loss: Any,
    tokens: int,
    truncated_tokens: int,
) -> ExampleScore:
    return {
        "index": int(index),
        "source": source,
        "split_used": split_used,
        "adapter_loss": clean_float(adapter_loss),
        "base_loss": clean_float(base_loss),
        "tokens": int(tokens),
        "truncated_tokens": int(truncated_tokens),
    }


class ForgettingSample(TypedDict):
    """One control prompt answered greedily by the base (`before`) and the adapter (`after`)."""

    prompt: list[Message]
    before: str
    after: str


class ForgettingReport(TypedDict):
    """Base vs adapter on general-purpose conversations: does the adapter still handle everyday requests?

    Ratios are perplexity adapter ÷ base (> 1: the adapter got worse). `control_*` figures are on the
    control set (the built-in one that ships with Annotune, or the project's own, plus the project's
    general-category validation examples); `validation_ratio` on the job's validation split. `warn` is
    `control_ratio > threshold`.
    """

    control_ratio: float | None
    control_base_ppl: float | None
    control_adapter_ppl: float | None
    validation_ratio: float | None
    control_examples: int
    source: str  # "builtin" | "project"
    samples: list[ForgettingSample]
    threshold: float
    warn: bool


# Control-set perplexity adapter ÷ base above this warns on the job, adapter and compare pages.
FORGETTING_THRESHOLD = 1.10


def forgetting_warns(control_ratio: float | None, threshold: float = FORGETTING_THRESHOLD) -> bool:
    ratio = clean_float(control_ratio)
    return ratio is not None and ratio > threshold
