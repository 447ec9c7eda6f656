"""A training configuration as a labelled table: what a page shows instead of a dict of snake_case keys.

Labels come from the configuration's JSON Schema titles (training/engine/config.py), values in words
("QLoRA (4-bit base)", "yes", "only at the end"); the key stays in each row for a tooltip and for tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..engine.config import SCHEMA
from ..models import Method

# Keys the schema gives no title, or whose title is terse on its own.
LABELS = {
    "gradient_accumulation_steps": "Gradient accumulation steps",
    "lr_scheduler": "Learning-rate schedule",
    "max_seq_length": "Max tokens per example",
    "max_grad_norm": "Gradient clipping (max norm)",
    "save_steps": "Checkpoint every (steps)",
    "logging_steps": "Log every (steps)",
    "eval_steps": "Evaluate every (steps)",
    # An adapter's lineage beside its configuration (selectors.adapters.adapter_config_view).
    "base_model": "Base model",
    "dataset_version": "Dataset version",
    "dataset_sha256": "Dataset fingerprint (SHA-256)",
    "seed": "Seed",
    "kept_unquantized": "Layers kept at full precision",
    "continued_from": "Continued from",
    "combination": "Combined by",
    "parents": "Parents",
}
TARGETS = {"attention": "attention projections (q, k, v, o)", "all-linear": "all linear layers"}
DISTRIBUTED = {"ddp": "DDP (each process holds the whole base)", "fsdp": "FSDP (the base is sharded)"}
DEVICES = {"auto": "automatic (CUDA when a CUDA worker can take it, else CPU)", "cpu": "CPU", "cuda": "CUDA GPU"}


@dataclass(frozen=True, slots=True)
class ConfigRow:
    key: str
    label: str
    value: str


def config_label(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    title = SCHEMA["properties"].get(key, {}).get("title")
    return str(title) if title else key.replace("_", " ").capitalize()


def config_value(key: str, value: Any) -> str:
    """One value in words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    if key == "method" and value in Method.values:
        return str(Method(value).label)
    if key == "target_modules":
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return TARGETS.get(str(value), str(value))
    if key == "max_steps" and value == -1:
        return "no limit (trains for the epochs)"
    if key == "eval_steps" and value == 0:
        return "only at the end"
    if key == "distributed":
        return DISTRIBUTED.get(str(value), str(value))
    if key == "device":
        return DEVICES.get(str(value), str(value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{config_label(str(k)).lower()}: {config_value(str(k), v)}" for k, v in value.items())
    return str(value).replace("_", " ") if key == "lr_scheduler" else str(value)


def config_rows(config: Mapping[str, Any] | None, *, varying: Iterable[str] = (), note: str = "") -> list[ConfigRow]:
    """The rows of `config` in the schema's order (unknown keys after, sorted). Keys in `varying` read
    `note` instead of their value (a sweep's rank and alpha differ per member)."""
    config = dict(config or {})
    known = SCHEMA["properties"]
    order = [k for k in known if k in config] + sorted(k for k in config if k not in known)
    varying = set(varying)
    return [
        ConfigRow(key, config_label(key), note if key in varying and note else config_value(key, config[key]))
        for key in order
    ]


def labelled_rows(values: Mapping[str, Any]) -> list[ConfigRow]:
    """`values` (a flat view such as an adapter's configuration and lineage) as labelled rows, in its order."""
    return [ConfigRow(key, config_label(key), config_value(key, value)) for key, value in values.items()]
