"""Job configuration: JSON Schema, defaults, presets and validation with per-field messages.

The schema (`config_schema()`) is plain JSON so the web form and the API can use it as is.
`validate_config(data)` fills defaults and returns `(TrainConfig, {})` or `(None, {field: message})`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from typing import Any

METHODS = ("qlora", "lora", "dora", "dpo")
# Methods that train a fresh adapter on conversations; "dpo" trains an existing one on preference pairs.
SFT_METHODS = ("qlora", "lora", "dora")
TARGET_PRESETS = ("attention", "all-linear")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
DEVICES = ("auto", "cpu", "cuda")
DISTRIBUTED = ("ddp", "fsdp")
MAX_PROCESSES = 64

_PROPERTIES: dict[str, dict[str, Any]] = {
    "method": {
        "type": "string",
        "enum": list(METHODS),
        "default": "lora",
        "title": "Method",
        "description": "qlora: 4-bit NF4 base + LoRA; lora: full-precision base + LoRA; dora: weight-decomposed LoRA; "
        "dpo: preference training (chosen over rejected answers) of the adapter training continues from.",
    },
    "beta": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 5,
        "default": 0.1,
        "title": "DPO beta",
        "description": "dpo only: how far the adapter may move from the base (higher keeps it closer).",
    },
    "use_rslora": {"type": "boolean", "default": False, "title": "Rank-stabilised scaling (alpha / sqrt(r))"},
    "rank": {"type": "integer", "minimum": 1, "maximum": 512, "default": 16, "title": "LoRA rank r"},
    "alpha": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 32, "title": "LoRA alpha"},
    "dropout": {"type": "number", "minimum": 0, "maximum": 0.9, "default": 0.05, "title": "LoRA dropout"},
    "target_modules": {
        "title": "Target modules",
        "description": "A preset ('attention' = q/k/v/o projections, 'all-linear') or a list of module names.",
        "default": "attention",
        "oneOf": [
            {"type": "string", "enum": list(TARGET_PRESETS)},
            {
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Za-z0-9_.]+$"},
                "minItems": 1,
                "uniqueItems": True,
            },
        ],
    },
    "learning_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 2e-4, "title": "Learning rate"},
    "lr_scheduler": {"type": "string", "enum": list(SCHEDULERS), "default": "cosine", "title": "LR scheduler"},
    "warmup_ratio": {"type": "number", "minimum": 0, "maximum": 0.5, "default": 0.03, "title": "Warm-up ratio"},
    "weight_decay": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.0, "title": "Weight decay"},
    "max_grad_norm": {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": 1.0, "title": "Clip norm"},
    "epochs": {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": 2, "title": "Epochs"},
    "max_steps": {
        "type": "integer",
        "minimum": -1,
        "maximum": 1_000_000,
        "default": -1,
        "title": "Max steps",
        "description": "Optimizer steps; -1 trains for `epochs` instead.",
    },
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 512, "default": 4, "title": "Batch size"},
    "gradient_accumulation_steps": {"type": "integer", "minimum": 1, "maximum": 512, "default": 1},
    "max_seq_length": {"type": "integer", "minimum": 16, "maximum": 131072, "default": 1024, "title": "Max tokens"},
    "packing": {
        "type": "boolean",
        "default": False,
        "title": "Packing",
        "description": "Pack whole examples into blocks of max_seq_length (attention stays within each example).",
    },
    "gradient_checkpointing": {"type": "boolean", "default": False, "title": "Gradient checkpointing"},
    "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 42, "title": "Seed"},
    "save_steps": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 50, "title": "Checkpoint every"},
    "logging_steps": {"type": "integer", "minimum": 1, "maximum": 100_000, "default": 10, "title": "Log every"},
    "eval_steps": {
        "type": "integer",
        "minimum": 0,
        "maximum": 1_000_000,
        "default": 0,
        "title": "Evaluate every",
        "description": "Steps between validation-loss evaluations during training; 0 = only at the end.",
    },
    "eval_fraction": {
        "type": "number",
        "minimum": 0,
        "maximum": 0.5,
        "default": 0.1,
        "title": "Validation fraction",
        "description": "Share of the training examples held out for validation when no validation set is given.",
    },
    "device": {
        "type": "string",
        "enum": list(DEVICES),
        "default": "auto",
        "title": "Device",
        "description": "The device class the job needs; auto: CUDA when a CUDA worker can take it, else CPU.",
    },
    "num_processes": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_PROCESSES,
        "default": 1,
        "title": "Processes (devices)",
        "description": "Training processes, one per device; more than 1 trains data-parallel through accelerate "
        "launch (each process takes batch_size examples per step).",
    },
    "distributed": {
        "type": "string",
        "enum": list(DISTRIBUTED),
        "default": "ddp",
        "title": "Multi-process strategy",
        "description": "ddp: every process holds the whole base; fsdp (CUDA, 2+ processes): the base is sharded "
        "across the devices, for bases that do not fit one device (QLoRA too).",
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://annotune.local/schemas/training-config.json",
    "title": "Training configuration",
    "type": "object",
    "additionalProperties": False,
    "properties": _PROPERTIES,
}

# No preset names a method: the launch plan (training/services/launch_plan.py) picks QLoRA on a GPU and
# LoRA on a CPU, where a small base fits at full precision.
# Learning rates and epochs measured on a real model, the default SmolLM2-135M-Instruct, with the demo's 58
# training conversations (benchmarks/bench_demo_style.py): at lr 2e-4 for 2 epochs (the earlier balanced
# preset) the house style did not appear in any of 10 held-out answers; at 1e-3 for 3 epochs validation loss
# went 4.31 -> 2.56 and 10 of 10 answers kept the style (the base: 0). Curated sets are small: a few dozen to a
# few thousand examples need the larger rate and more than one pass to change what the model says.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "rank": 8,
        "alpha": 16,
        "target_modules": "attention",
        "learning_rate": 1e-3,
        "epochs": 2,
        "max_seq_length": 512,
        "packing": True,
    },
    "balanced": {
        "rank": 16,
        "alpha": 32,
        "target_modules": "attention",
        "learning_rate": 1e-3,
        "epochs": 3,
        "max_seq_length": 1024,
    },
    "thorough": {
        "rank": 32,
        "alpha": 64,
        "use_rslora": True,
        "target_modules": "all-linear",
        "learning_rate": 1e-4,
        "epochs": 3,
        "max_seq_length": 2048,
        "gradient_checkpointing": True,
        "eval_steps": 50,
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """A validated configuration (all fields filled). Build it with `validate_config`."""

    method: str = "lora"
    beta: float = 0.1
    use_rslora: bool = False
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "attention"
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    epochs: float = 2
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_seq_length: int = 1024
    packing: bool = False
    gradient_checkpointing: bool = False
    seed: int = 42
    save_steps: int = 50
    logging_steps: int = 10
    eval_steps: int = 0
    eval_fraction: float = 0.1
    device: str = "auto"
    num_processes: int = 1
    distributed: str = "ddp"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a job configuration, with defaults, titles and presets."""
    schema = copy.deepcopy(SCHEMA)
    schema["x-presets"] = copy.deepcopy(PRESETS)
    return schema


def default_config() -> dict[str, Any]:
    return {name: copy.deepcopy(spec["default"]) for name, spec in _PROPERTIES.items()}


def preset(name: str) -> dict[str, Any]:
    """Full configuration dict of a preset ("quick" | "balanced" | "thorough"): defaults + preset values."""
    if name not in PRESETS:
        raise KeyError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return {**default_config(), **copy.deepcopy(PRESETS[name])}


def _message(error: Any) -> str:
    kind, value = error.validator, error.validator_value
    if kind == "type":
        names = {"integer": "a whole number", "number": "a number", "boolean": "true or false", "string": "text"}
        return f"must be {names.get(value, value)}"
    if kind == "minimum":
        return f"must be at least {value}"
    if kind == "maximum":
        return f"must be at most {value}"
    if kind == "exclusiveMinimum":
        return f"must be greater than {value}"
    if kind == "exclusiveMaximum":
        return f"must be less than {value}"
    if kind == "enum":
        return "must be one of: " + ", ".join(str(v) for v in value)
    if kind == "oneOf" and error.path and error.path[0] == "target_modules":
        return "must be 'attention', 'all-linear' or a non-empty list of distinct module names"
    return str(error.message)


DPO_NEEDS_PARENT = "dpo trains an existing adapter on preference pairs: choose the adapter to continue from"


def validate_config(
    data: dict[str, Any] | None, *, has_parent: bool | None = None
) -> tuple[TrainConfig | None, dict[str, str]]:
    """Validate a configuration dict (missing fields take defaults).

    `has_parent`: whether the job continues from an adapter (False refuses "dpo", which needs one; None:
    not known to the caller, as for presets and estimates).
    Returns `(config, {})` when valid, else `(None, errors)` with errors as field -> human message.
    """
    from jsonschema import Draft202012Validator

    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, {"__all__": "configuration must be an object"}
    errors: dict[str, str] = {}
    for key in data:
        if key not in _PROPERTIES:
            errors[str(key)] = "unknown field"
    validator = Draft202012Validator({**SCHEMA, "additionalProperties": True})
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        name = str(error.path[0]) if error.path else "__all__"
        errors.setdefault(name, _message(error))
    merged = {**default_config(), **data}
    # Booleans are ints in Python; JSON Schema already rejects them for integer fields.
    if not errors and merged["max_steps"] == 0:
        errors["max_steps"] = "must be -1 (use epochs) or at least 1"
    if not errors and merged["distributed"] == "fsdp":
        # FSDP shards the base over the processes; bitsandbytes' 4-bit storage shards on CUDA only.
        if merged["num_processes"] < 2:
            errors["distributed"] = "fsdp shards the base over several processes: set num_processes to 2 or more"
        elif merged["device"] == "cpu":
            errors["distributed"] = "fsdp runs on CUDA devices only: choose device cuda (or auto), or ddp"
    if not errors and merged["method"] == "dpo":
        if has_parent is False:
            errors["method"] = DPO_NEEDS_PARENT
        elif merged["num_processes"] > 1:
            errors["num_processes"] = "dpo trains in one process: set num_processes to 1"
    if errors:
        return None, errors
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in merged.items() if k in known}), {}
