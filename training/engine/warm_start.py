"""Continue training: put a saved adapter's weights into a freshly built PEFT model (a warm start).

The job that continues an adapter builds its PEFT model as usual (`model.build_peft_model`), then calls
`load_adapter_weights(model, spec.init_adapter_path)` before training. The saved adapter must have the
job's shape: same rank, same target modules, DoRA or not; anything else is a `ConfigError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ConfigError

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def _targets(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}


def _refuse(message: str, errors: dict[str, str]) -> ConfigError:
    return ConfigError(message, {"errors": errors})


def load_adapter_weights(peft_model: Any, adapter_dir: str | Path) -> int:
    """Load the adapter saved in `adapter_dir` (PEFT format) into `peft_model`'s active adapter.

    Returns the number of tensors loaded. Raises `ConfigError` when the folder holds no adapter, when its
    rank, target modules or DoRA setting differ from the model's, or when its tensors do not fit the
    model (another base model).
    """
    folder = Path(adapter_dir)
    weights, config_path = folder / ADAPTER_WEIGHTS, folder / ADAPTER_CONFIG
    if not weights.is_file() or not config_path.is_file():
        raise _refuse(
            f"No adapter to continue from in {folder}: {ADAPTER_WEIGHTS} and {ADAPTER_CONFIG} are needed.",
            {"init_adapter_path": "holds no saved adapter"},
        )
    try:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _refuse(
            f"The adapter's {ADAPTER_CONFIG} cannot be read: {exc}", {"init_adapter_path": "unreadable"}
        ) from exc
    current = peft_model.peft_config[getattr(peft_model, "active_adapter", "default")]
    problems: dict[str, str] = {}
    if int(saved.get("r") or 0) != int(current.r):
        problems["rank"] = f"the adapter has rank {saved.get('r')}, this job {current.r}"
    if _targets(saved.get("target_modules")) != _targets(current.target_modules):
        problems["target_modules"] = (
            f"the adapter targets {', '.join(sorted(_targets(saved.get('target_modules'))))}, "
            f"this job {', '.join(sorted(_targets(current.target_modules)))}"
        )
    if bool(saved.get("use_dora")) != bool(getattr(current, "use_dora", False)):
        problems["method"] = "the adapter and this job differ in DoRA (weight decomposition)"
    if problems:
        detail = "; ".join(f"{key}: {text}" for key, text in problems.items())
        raise _refuse(f"The adapter to continue from does not match this job's configuration ({detail}).", problems)

    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = load_file(str(weights))
    try:
        outcome = set_peft_model_state_dict(peft_model, state)
    except RuntimeError as exc:  # size mismatch: the adapter was trained on another base model
        first = str(exc).strip().splitlines()
        raise _refuse(
            "The adapter's weights do not fit this base model" + (f": {first[-1].strip()}" if first else "."),
            {"base_model": "the adapter was trained on a model of another shape"},
        ) from exc
    unexpected = list(getattr(outcome, "unexpected_keys", []) or [])
    missing = [key for key in getattr(outcome, "missing_keys", []) or [] if "lora_" in key]
    if unexpected or missing:
        names = ", ".join((unexpected or missing)[:3])
        raise _refuse(
            f"The adapter's weights do not match this model's adapter layers ({names}).",
            {"init_adapter_path": "tensors do not match"},
        )
    return len(state)
