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
    if not isinstance(value, list):
        return []
    return [
        {"role": _text(item.get("role") or "user"), "content": _text(item.get("content"))}
        for item in value
        if isinstance(item, Mapping)
    ]


def samples(raw: Any) -> list[Sample]:
    """Stored samples as `Sample`s (the keys `sample` writes); anything else is skipped."""
    if not isinstance(raw, list):
        return []
    return [
        {
            "prompt": _messages(row.get("prompt")),
            "reference": _text(row.get("reference")),
            "before": _text(row.get("before")),
            "after": _text(row.get("after")),
        }
        for row in raw
        if isinstance(row, Mapping)
    ]


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
    # DPO: share of the held-out preference pairs whose chosen answer the model finds more likely per token than
    # the rejected one, before and after training (dpo.preference_accuracy).
    preference_accuracy_before: float | None
    preference_accuracy_after: float | None
    # DPO: share of the held-out pairs the training moved the right way (the chosen answer's likelihood rose
    # against the rejected one's, relative to the starting adapter: TRL's eval_rewards/accuracies).
    reward_accuracy: float | None
    train_examples: int  # what the engine trained on (after holding out validation examples)
    validation_examples: int
    held_out_examples: int  # taken from the training examples because the dataset had no validation set
    tokens_seen: int
    tokens_per_second: float
    train_runtime_seconds: float
    resumed_from_step: int | None
    scoring_seconds: float  # per-example loss of every example, base and adapter
    forgetting_seconds: float  # the forgetting check (control set losses and generations)
    behaviour_seconds: float  # the behavioural evaluation's generations (base and adapter)
    # Measured peak memory of the training process: resident set on a CPU, allocated device memory on CUDA
    # (rank 0's). Shown beside the launch estimate, so the estimate can be checked against what happened.
    peak_memory_bytes: int | None


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
        elif kind in ("count", "step", "tokens", "bytes"):
            out[key] = int(value)
        else:
            out[key] = clean_float(value)
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class MetricField:
    key: str
    label: str
    kind: str  # loss | perplexity | step | count | tokens | seconds | rate | share


# Display order and labels: pages, the compare view and the adapter list use this table only.
METRIC_FIELDS: tuple[MetricField, ...] = (
    MetricField("preference_accuracy_before", "Preference accuracy, before", "share"),
    MetricField("preference_accuracy_after", "Preference accuracy, after", "share"),
    MetricField("reward_accuracy", "Pairs moved towards the chosen answer", "share"),
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
    MetricField("behaviour_seconds", "Behavioural evaluation time", "seconds"),
    MetricField("peak_memory_bytes", "Peak memory (measured)", "bytes"),
    # Keys written by older versions and combined adapters.
    MetricField("validation_loss", "Validation loss", "loss"),
    MetricField("perplexity", "Perplexity", "perplexity"),
    MetricField("base_perplexity", "Base perplexity", "perplexity"),
)
FIELDS_BY_KEY = {f.key: f for f in METRIC_FIELDS}
# The few figures a list row shows.
HEADLINE_METRICS = (
    "preference_accuracy_after",
    "val_loss_adapter",
    "val_perplexity_adapter",
    "final_loss",
    "eval_loss",
    "perplexity",
)


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
    if kind == "bytes":
        return format_bytes(value)
    number = clean_float(value)
    if number is None:
        return "—" if value is None or not isinstance(value, str) else value
    if kind == "loss":
        return f"{number:.4f}"
    if kind == "perplexity":
        return f"{number:,.2f}" if number < 100 else f"{number:,.1f}"
    if kind == "rate":
        return f"{number:,.0f} tokens/s"
    if kind == "share":
        return f"{number:.0%}"
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
    "not_placed": "Nothing ran: change what the message names (the settings or the base model) and launch again.",
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


# -- behavioural evaluation -----------------------------------------------------------------------------

# A figure computed on fewer examples than this says so instead of judging (the job, adapter and compare
# pages: behavioural pass rates, validation loss, the forgetting verdict).
MIN_TO_JUDGE = 10


def too_few(n: int, noun: str = "answer") -> str:
    """ "only 4 answers: too few to judge" when `n` is below MIN_TO_JUDGE, else ""."""
    if n >= MIN_TO_JUDGE:
        return ""
    return f"only {n} {noun}{'' if n == 1 else 's'}: too few to judge"


class Decoding(TypedDict):
    """How the behavioural answers were generated (recorded with them)."""

    strategy: str  # "greedy" (no sampling)
    max_new_tokens: int
    prompt_format: str  # how prompts were rendered: the base's chat template with its generation prompt
    batch_size: int  # prompts per generation batch (left padded)


class BehaviourAnswer(TypedDict):
    """One greedy answer: its text (as decoded, not stripped) and whether max_new_tokens cut it."""

    text: str
    new_tokens: int
    cut: bool


class BehaviourPrompt(TypedDict):
    """One prompt answered by the base and by the adapter.

    `split`: "validation" (the job's validation examples) or "control" (the forgetting check's control
    set). `source` / `index`: the prompt's data file ("train" | "validation" for the job's data, "control")
    and line index there. `category`: the example's category ("" when unknown, and for control prompts).
    """

    split: str
    source: str
    index: int
    category: str
    prompt: list[Message]  # the conversation up to its last assistant turn
    reference: str  # that assistant turn
    base: BehaviourAnswer
    adapter: BehaviourAnswer


class BehaviourRun(TypedDict):
    """`JobResult.behaviour`: the engine's generations for the behavioural evaluation."""

    prompts: list[BehaviourPrompt]
    decoding: Decoding
    seconds: float  # generation time, base and adapter
    budget_seconds: float | None  # the time allowed (a share of the training time); None: no limit
    validation_available: int  # validation prompts the job had (at most VALIDATION_PROMPTS are answered)
    control_available: int
    skipped: int  # chosen prompts left unanswered because the time budget ran out


def behaviour_answer(text: Any, new_tokens: Any = 0, cut: Any = False) -> BehaviourAnswer:
    return {"text": _text(text), "new_tokens": int(new_tokens or 0), "cut": bool(cut)}


def _answer(raw: Any) -> BehaviourAnswer:
    if isinstance(raw, Mapping):
        return behaviour_answer(raw.get("text"), raw.get("new_tokens"), raw.get("cut"))
    return behaviour_answer(raw)


def _int(value: Any, default: int = 0) -> int:
    number = clean_float(value)
    return default if number is None else int(number)


def decoding(raw: Any) -> Decoding:
    raw = raw if isinstance(raw, Mapping) else {}
    return {
        "strategy": _text(raw.get("strategy") or "greedy"),
        "max_new_tokens": _int(raw.get("max_new_tokens")),
        "prompt_format": _text(raw.get("prompt_format")),
        "batch_size": _int(raw.get("batch_size")),
    }


def behaviour_prompts(raw: Any) -> list[BehaviourPrompt]:
    """Stored prompts as `BehaviourPrompt`s (rows that are not mappings are skipped)."""
    out: list[BehaviourPrompt] = []
    for row in raw if isinstance(raw, list) else []:
        if not isinstance(row, Mapping):
            continue
        out.append(
            {
                "split": "control" if row.get("split") == "control" else "validation",
                "source": _text(row.get("source")),
                "index": _int(row.get("index"), -1),
                "category": _text(row.get("category")),
                "prompt": _messages(row.get("prompt")),
                "reference": _text(row.get("reference")),
                "base": _answer(row.get("base")),
                "adapter": _answer(row.get("adapter")),
            }
        )
    return out


def behaviour_run(raw: Any) -> BehaviourRun | None:
    """The engine's `behaviour` as stored (None when the job has none)."""
    if not isinstance(raw, Mapping):
        return None
    return {
        "prompts": behaviour_prompts(raw.get("prompts")),
        "decoding": decoding(raw.get("decoding")),
        "seconds": clean_float(raw.get("seconds")) or 0.0,
        "budget_seconds": clean_float(raw.get("budget_seconds")),
        "validation_available": _int(raw.get("validation_available")),
        "control_available": _int(raw.get("control_available")),
        "skipped": _int(raw.get("skipped")),
    }


# The report the training worker builds from a `BehaviourRun` by running the project's own per-example
# checks on every answer (evaluation/services/behaviour.py). Stored on the adapter (`Adapter.behaviour`),
# served by the API, read by the job, adapter and compare pages through `behaviour_view`.


class CheckRate(TypedDict):
    """One check on the validation answers: how many of `n` answers it found nothing in."""

    code: str  # validators registry code, e.g. "style.signoff"
    label: str  # the registry's title
    n: int
    base_passed: int
    adapter_passed: int
    stated: bool  # a rule the project states (house style, schema, glossary, knowledge base)


class CategoryRate(TypedDict):
    """Answers of one category that pass every check."""

    category: str  # "" = no category
    split: str  # "validation" | "control"
    n: int
    base_passed: int
    adapter_passed: int


class CheckedPrompt(TypedDict):
    """A `BehaviourPrompt` with the codes of the checks each answer failed."""

    split: str
    category: str
    prompt: list[Message]
    reference: str
    base: BehaviourAnswer
    adapter: BehaviourAnswer
    base_failed: list[str]
    adapter_failed: list[str]


class BehaviourReport(TypedDict):
    checks: list[CheckRate]  # every check that ran, on the validation answers
    all_checks: CheckRate  # code "*": validation answers that pass every check
    categories: list[CategoryRate]
    prompts: list[CheckedPrompt]
    decoding: Decoding
    seconds: float  # generation time (engine)
    checks_seconds: float  # the checks (worker)
    skipped: int
    validation_available: int
    control_available: int


def check_rate(raw: Any) -> CheckRate:
    raw = raw if isinstance(raw, Mapping) else {}
    return {
        "code": _text(raw.get("code")),
        "label": _text(raw.get("label") or raw.get("code")),
        "n": _int(raw.get("n")),
        "base_passed": _int(raw.get("base_passed")),
        "adapter_passed": _int(raw.get("adapter_passed")),
        "stated": bool(raw.get("stated")),
    }


def _codes(raw: Any) -> list[str]:
    return [str(c) for c in raw] if isinstance(raw, list) else []


def behaviour_report(raw: Any) -> BehaviourReport | None:
    """A stored report (`Adapter.behaviour`) read back through the schema; None when there is none."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("checks"), list):
        return None
    prompts: list[CheckedPrompt] = []
    for row, stored in zip(behaviour_prompts(raw.get("prompts")), raw.get("prompts") or [], strict=False):
        prompts.append(
            {
                "split": row["split"],
                "category": row["category"],
                "prompt": row["prompt"],
                "reference": row["reference"],
                "base": row["base"],
                "adapter": row["adapter"],
                "base_failed": _codes(stored.get("base_failed")),
                "adapter_failed": _codes(stored.get("adapter_failed")),
            }
        )
    categories: list[CategoryRate] = []
    for c in raw.get("categories") or []:
        if isinstance(c, Mapping):
            categories.append(
                {
                    "category": _text(c.get("category")),
                    "split": "control" if c.get("split") == "control" else "validation",
                    "n": _int(c.get("n")),
                    "base_passed": _int(c.get("base_passed")),
                    "adapter_passed": _int(c.get("adapter_passed")),
                }
            )
    return {
        "checks": [check_rate(c) for c in raw["checks"] if isinstance(c, Mapping)],
        "all_checks": check_rate(raw.get("all_checks")),
        "categories": categories,
        "prompts": prompts,
        "decoding": decoding(raw.get("decoding")),
        "seconds": clean_float(raw.get("seconds")) or 0.0,
        "checks_seconds": clean_float(raw.get("checks_seconds")) or 0.0,
        "skipped": _int(raw.get("skipped")),
        "validation_available": _int(raw.get("validation_available")),
        "control_available": _int(raw.get("control_available")),
    }


# -- behavioural evaluation: display ------------------------------------------------------------------


def format_rate(passed: int, n: int) -> str:
    """ "7 of 10 (70%)"; "—" without answers."""
    return "—" if n <= 0 else f"{passed} of {n} ({passed / n:.0%})"


@dataclass(frozen=True)
class RateRow:
    """A display row: base and adapter pass rates over `n` answers, and the change or why it is not judged."""

    label: str
    code: str
    n: int
    base: str
    adapter: str
    change: str  # "+3 answers", "−1 answer", "no change"; "" when too few
    tone: str  # better | worse | same | few
    note: str  # "only 4 answers: too few to judge"


def rate_row(label: str, code: str, n: int, base_passed: int, adapter_passed: int) -> RateRow:
    note = too_few(n)
    diff = adapter_passed - base_passed
    if note:
        change, tone = "", "few"
    elif diff == 0:
        change, tone = "no change", "same"
    else:
        unit = "answer" if abs(diff) == 1 else "answers"
        change, tone = (f"+{diff} {unit}", "better") if diff > 0 else (f"−{-diff} {unit}", "worse")
    return RateRow(
        label=label,
        code=code,
        n=n,
        base=format_rate(base_passed, n),
        adapter=format_rate(adapter_passed, n),
        change=change,
        tone=tone,
        note=note,
    )


@dataclass(frozen=True)
class ExampleView:
    split: str
    category: str
    prompt: list[Message]
    reference: str
    base: str
    adapter: str
    base_failed: list[str]  # labels of the checks the answer failed
    adapter_failed: list[str]
    base_cut: bool
    adapter_cut: bool


@dataclass(frozen=True)
class BehaviourView:
    """What the job, adapter and compare pages show of a `BehaviourReport` (display-ready)."""

    overall: RateRow
    checks: list[RateRow]  # checks that found something in some answer, or a rule the project states
    clean: list[RateRow]  # the other checks that ran: nothing found in any answer
    categories: list[RateRow]
    examples: list[ExampleView]
    decoding: str  # "greedy, at most 96 new tokens, prompts through the chat template"
    cost: str  # "24 validation + 6 control prompts in 31 s (checks 0.4 s)"
    notes: list[str]  # plain notes: prompts left out for time, answers cut at max tokens
    prompt_lines: list[str]  # the last user turn of each validation prompt (blind evaluation pre-fill)
    max_new_tokens: int


CONTROL_LABEL = "Everyday requests (control set)"
NO_CATEGORY = "No category"
EXAMPLES_SHOWN = 4


def _example_order(p: CheckedPrompt) -> int:
    """Answers the adapter fixed first, then those it broke, then the rest (stable)."""
    base_ok, adapter_ok = not p["base_failed"], not p["adapter_failed"]
    return 0 if adapter_ok and not base_ok else 1 if base_ok and not adapter_ok else 2


def behaviour_view(raw: Any, *, examples: int = EXAMPLES_SHOWN) -> BehaviourView | None:
    """The display of a stored report (None when there is none)."""
    report = behaviour_report(raw)
    if report is None:
        return None
    labels = {c["code"]: c["label"] for c in report["checks"]}
    rows = [rate_row(c["label"], c["code"], c["n"], c["base_passed"], c["adapter_passed"]) for c in report["checks"]]
    shown = [
        r
        for r, c in zip(rows, report["checks"], strict=True)
        if c["stated"] or c["base_passed"] < c["n"] or c["adapter_passed"] < c["n"]
    ]
    clean = [r for r in rows if r not in shown]
    overall = report["all_checks"]
    categories = [
        rate_row(
            CONTROL_LABEL if c["split"] == "control" else (c["category"] or NO_CATEGORY),
            c["category"],
            c["n"],
            c["base_passed"],
            c["adapter_passed"],
        )
        for c in report["categories"]
    ]
    validation = [p for p in report["prompts"] if p["split"] == "validation"]
    control = [p for p in report["prompts"] if p["split"] == "control"]
    picked = sorted(validation, key=_example_order)[:examples]
    example_views = [
        ExampleView(
            split=p["split"],
            category=p["category"],
            prompt=p["prompt"],
            reference=p["reference"],
            base=p["base"]["text"],
            adapter=p["adapter"]["text"],
            base_failed=[labels.get(code, code) for code in p["base_failed"]],
            adapter_failed=[labels.get(code, code) for code in p["adapter_failed"]],
            base_cut=p["base"]["cut"],
            adapter_cut=p["adapter"]["cut"],
        )
        for p in picked
    ]
    dec = report["decoding"]
    notes = []
    if report["skipped"]:
        notes.append(
            f"{report['skipped']} chosen prompts were left out to keep this evaluation within half the training time."
        )
    if report["validation_available"] > len(validation):
        notes.append(
            f"{len(validation)} of the {report['validation_available']} validation prompts were answered "
            "(a fixed sample, the same for every job of this dataset)."
        )
    cut = sum(1 for p in report["prompts"] for a in (p["base"], p["adapter"]) if a["cut"])
    if cut:
        notes.append(
            f"{cut} of {2 * len(report['prompts'])} answers reached the limit of {dec['max_new_tokens']} new tokens "
            "and were cut: a rule about the end of an answer (a sign-off) fails on them."
        )
    if not validation:
        notes.append("The job had no validation prompts: the checks below ran on no answers of the project's own.")
    lines = []
    for p in validation:
        users = [m["content"] for m in p["prompt"] if m["role"] == "user"]
        if users:
            lines.append(" ".join(users[-1].split()))
    return BehaviourView(
        overall=rate_row("Every check", "*", overall["n"], overall["base_passed"], overall["adapter_passed"]),
        checks=shown,
        clean=clean,
        categories=categories,
        examples=example_views,
        decoding=f"{dec['strategy']}, at most {dec['max_new_tokens']} new tokens, prompts through the base "
        "model's chat template",
        cost=f"{len(validation)} validation + {len(control)} control prompts, base and adapter, in "
        f"{format_seconds(report['seconds'])} (checks {format_seconds(report['checks_seconds'])})",
        notes=notes,
        prompt_lines=lines,
        max_new_tokens=dec["max_new_tokens"],
    )


def validation_note(raw_metrics: Mapping[str, Any] | None) -> str:
    """A plain note when the validation figures come from too few examples ("" otherwise)."""
    m = raw_metrics if isinstance(raw_metrics, Mapping) else {}
    n = _int(m.get("validation_examples"), -1)
    if m.get("preference_accuracy_after") is not None and 0 <= n < MIN_TO_JUDGE:
        return (
            f"The preference accuracy comes from {too_few(n, 'held-out pair')}, so it can't be trusted yet. "
            f"Mark more pairs for validation (at least {MIN_TO_JUDGE})."
        )
    if m.get("val_loss_adapter") is None and m.get("validation_loss") is None:
        return ""
    if n < 0 or n >= MIN_TO_JUDGE:
        return ""
    return (
        f"The validation loss comes from {too_few(n, 'validation example')}, so it can't be trusted yet. "
        f"Add validation examples (at least {MIN_TO_JUDGE}) to the dataset version."
    )


def forgetting_note(report: Mapping[str, Any] | None) -> str:
    """A plain note when the forgetting verdict rests on too few control conversations ("" otherwise)."""
    if not isinstance(report, Mapping):
        return ""
    n = _int(report.get("control_examples"))
    if n >= MIN_TO_JUDGE:
        return ""
    return (
        f"The forgetting check compared base and adapter on {too_few(n, 'control conversation')}, "
        "so its verdict can't be trusted yet."
    )
