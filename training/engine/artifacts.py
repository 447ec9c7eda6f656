"""Adapter files, model card, zip archives and package versions (lineage)."""

from __future__ import annotations

import json
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "tokenizers", "safetensors")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def save_adapter(model: Any, folder: str | Path) -> Path:
    """Save the adapter in PEFT format (adapter_model.safetensors + adapter_config.json)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    if not (folder / ADAPTER_WEIGHTS).is_file():
        raise RuntimeError(f"adapter weights missing after save in {folder}")
    return folder


def adapter_size_bytes(folder: str | Path) -> int:
    return (Path(folder) / ADAPTER_WEIGHTS).stat().st_size


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def write_model_card(folder: str | Path, card: dict[str, Any]) -> Path:
    """Write README.md (human summary + full JSON lineage) into the adapter folder.

    Expected keys: base_model, method, config, dataset_hash, metrics, package_versions, samples (optional).
    """
    folder = Path(folder)
    metrics = card.get("metrics", {})
    lines = [
        "---",
        "library_name: peft",
        f"base_model: {card.get('base_model')}",
        "tags: [annotune, lora]",
        "---",
        "",
        f"# Adapter for {Path(str(card.get('base_model'))).name}",
        "",
        f"Trained by Annotune with **{card.get('method')}** on dataset `{card.get('dataset_hash')}`.",
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "| --- | --- |",
        *[f"| {k} | {_fmt(v)} |" for k, v in metrics.items()],
        "",
        "## Configuration",
        "",
        "| field | value |",
        "| --- | --- |",
        *[f"| {k} | {_fmt(v)} |" for k, v in card.get("config", {}).items()],
        "",
        "## Package versions",
        "",
        *[f"- {k}: {v}" for k, v in card.get("package_versions", {}).items()],
        "",
    ]
    kept = card.get("kept_unquantized") or []
    if kept:
        lines += [
            "## Layers kept unquantised",
            "",
            f"{len(kept)} linear layer(s) of the base stayed in 16/32-bit: their shape does not fit the 4-bit kernels.",
            "",
            *[f"- `{name}`" for name in kept],
            "",
        ]
    samples = card.get("samples") or []
    if samples:
        lines += ["## Sample generations (greedy)", ""]
        for s in samples:
            prompt = s["prompt"][-1]["content"] if s["prompt"] else ""
            lines += [f"**Prompt:** {prompt}", "", f"- before: {s['before']}", f"- after: {s['after']}", ""]
    lines += ["## Lineage (JSON)", "", "```json", json.dumps(card, indent=2, default=str), "```", ""]
    path = folder / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def zip_folder(folder: str | Path, zip_path: str | Path) -> Path:
    """Zip every file under `folder` (paths relative to it) into `zip_path`."""
    folder, zip_path = Path(folder), Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file != zip_path:
                zf.write(file, file.relative_to(folder))
    return zip_path
