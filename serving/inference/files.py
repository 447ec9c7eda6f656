"""Checks on adapter and model folders, done before anything heavy is loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import AdapterFilesError, BaseModelMismatchError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def adapter_config(path: str | Path) -> dict[str, Any]:
    """The adapter's `adapter_config.json` as a dict; AdapterFilesError when the folder is incomplete."""
    folder = Path(path)
    if not folder.is_dir():
        raise AdapterFilesError(f"The adapter folder {folder} does not exist (were its files removed?).")
    config_file = folder / ADAPTER_CONFIG
    if not config_file.is_file():
        raise AdapterFilesError(f"The adapter folder {folder} has no {ADAPTER_CONFIG}.")
    if not any((folder / name).is_file() for name in ADAPTER_WEIGHTS):
        raise AdapterFilesError(f"The adapter folder {folder} has no weights ({' or '.join(ADAPTER_WEIGHTS)}).")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise AdapterFilesError(f"{config_file} is not readable JSON: {exc}") from exc
    if not isinstance(config, dict) or "peft_type" not in config:
        raise AdapterFilesError(f"{config_file} is not a PEFT adapter configuration.")
    return config


def check_model_folder(path: str | Path) -> None:
    """A local base model path must hold a config.json (hub ids, which are not folders, pass through)."""
    folder = Path(path)
    if folder.is_absolute() or folder.exists():
        if not (folder / "config.json").is_file():
            raise AdapterFilesError(f"The base model folder {folder} has no config.json (missing files?).")


def weight_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of the adapter weights, read from the safetensors header (no tensors loaded)."""
    folder = Path(path)
    weights = folder / ADAPTER_WEIGHTS[0]
    if not weights.is_file():
        return {}
    from safetensors import safe_open

    shapes = {}
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 - safe_open has keys(), not __iter__
            shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def check_fits_base(model, adapter_path: str | Path, *, base_label: str = "the base model") -> None:
    """Raise BaseModelMismatchError when the adapter's LoRA matrices do not fit the model's layers.

    `model` may be a plain transformers model or a PeftModel wrapping it. For every `lora_A` (r × in)
    and `lora_B` (out × r) the wrapped layer must exist and have those in / out features.
    """
    modules = dict(model.named_modules())
    problems = []
    for key, shape in weight_shapes(adapter_path).items():
        if ".lora_A" not in key and ".lora_B" not in key:
            continue
        layer_name = key.split(".lora_")[0]
        layer = _find_layer(modules, layer_name)
        if layer is None:
            problems.append(f"{layer_name}: no such layer")
            continue
        base_layer = getattr(layer, "base_layer", layer)
        in_features = getattr(base_layer, "in_features", None)
        out_features = getattr(base_layer, "out_features", None)
        if ".lora_A" in key and in_features is not None and len(shape) == 2 and shape[1] != in_features:
            problems.append(f"{layer_name}: adapter expects {shape[1]} inputs, the layer has {in_features}")
        if ".lora_B" in key and out_features is not None and len(shape) == 2 and shape[0] != out_features:
            problems.append(f"{layer_name}: adapter produces {shape[0]} outputs, the layer has {out_features}")
        if len(problems) >= 3:
            break
    if problems:
        raise BaseModelMismatchError(
            f"The adapter at {adapter_path} was trained on another base model than {base_label}: "
            + "; ".join(problems)
            + ". Use it with the base model it was trained on.",
            {"problems": problems},
        )


def _find_layer(modules: dict[str, Any], saved_name: str):
    """Saved keys look like `base_model.model.model.layers.0.self_attn.q_proj`; match the longest suffix.

    A plain model names that layer `model.layers.0.self_attn.q_proj`, a PeftModel the full saved name.
    """
    parts = saved_name.split(".")
    for start in range(len(parts)):
        candidate = ".".join(parts[start:])
        if candidate in modules:
            return modules[candidate]
    return None
