"""Training configurations: a preset's values with the user's overrides, validated; and the method each
device class trains with when the user chose none (the launch plan applies it, the estimates weigh both)."""

from __future__ import annotations

from typing import Any

from annotune.errors import ApplicationError

from ..engine.config import PRESETS, validate_config
from ..engine.config import preset as preset_config

METHOD_BY_DEVICE = {"cuda": "qlora", "cpu": "lora"}


def resolve_config(
    *, preset: str | None, config: dict[str, Any] | None, has_parent: bool | None = None
) -> dict[str, Any]:
    """A complete, validated configuration: the preset's values, overridden by `config`; field messages.
    `has_parent`: whether the job continues from an adapter (method "dpo" needs one)."""
    if preset and preset not in PRESETS:
        raise ApplicationError(f"Unknown preset {preset!r}.", {"preset": [f"Choose one of: {', '.join(PRESETS)}."]})
    if config is not None and not isinstance(config, dict):
        raise ApplicationError("The configuration must be a JSON object.", {"config": ["Send an object."]})
    merged = {**(preset_config(preset) if preset else {}), **(config or {})}
    validated, errors = validate_config(merged, has_parent=has_parent)
    if validated is None:
        raise ApplicationError(
            "The training configuration is invalid: " + "; ".join(f"{k} {v}" for k, v in errors.items()) + ".",
            {key: [message] for key, message in errors.items()},
        )
    return validated.to_dict()
