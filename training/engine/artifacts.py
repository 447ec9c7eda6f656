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


def save_adapter(model: Any, folder: str | Path, *, base_model: str | None = None) -> Path:
    """Save the adapter in PEFT format (adapter_model.safetensors + adapter_config.json).

    adapter_config.json's `base_model_name_or_path` is `base_model` when given, else what the model
    names (build_peft_model sets the base the job named, never the 4-bit cache folder a QLoRA base was
    read from): `AutoPeftModelForCausalLM.from_pretrained(folder)` loads that base.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if base_model is not None:
        for config in model.peft_config.values():
            config.base_model_name_or_path = str(base_model)
    model.save_pretrained(str(folder), safe_serialization=True)
    if not (folder / ADAPTER_WEIGHTS).is_file():
        raise RuntimeError(f"adapter weights missing after save in {folder}")
    return folder


def adapter_size_bytes(folder: str | Path) -> int:
    return (Path(folder) / ADAPTER_WEIGHTS).stat().st_size


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return "—" if value is None else str(value)


def is_local_path(base_model: str) -> bool:
    """A folder on this machine (absolute, ./ ../ ~, or existing) rather than a Hugging Face hub id."""
    return (
        base_model.startswith(("/", "./", "../", "~", "\\"))
        or (len(base_model) > 1 and base_model[1] == ":")
        or Path(base_model).exists()
    )


def method_tags(method: str, use_rslora: bool = False) -> list[str]:
    """The Hub tags of an adapter: its method (lora / qlora / dora, + rslora), peft and annotune."""
    return [method, *(["rslora"] if use_rslora else []), "peft", "annotune"]


def front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter of a model card's text ({} when it has none or it does not parse)."""
    import yaml

    if not text.startswith("---"):
        return {}
    head, sep, _rest = text[3:].partition("\n---")
    try:
        data = yaml.safe_load(head) if sep else None
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def base_license(base_model: str) -> str | None:
    """The license the base's own model card (README.md front matter) states, for a local folder."""
    if not is_local_path(base_model):
        return None
    readme = Path(base_model).expanduser() / "README.md"
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    value = front_matter(text).get("license")
    return str(value) if value else None


METHOD_NAMES = {"qlora": "QLoRA", "lora": "LoRA", "dora": "DoRA", "dpo": "DPO"}

# Validation figures of the card's model-index: (metric key, Hub metric type, name).
MODEL_INDEX_METRICS = (
    ("val_loss_adapter", "loss", "Validation loss (adapter)"),
    ("val_perplexity_adapter", "perplexity", "Validation perplexity (adapter)"),
    ("val_loss_base", "loss", "Validation loss (base model)"),
    ("val_perplexity_base", "perplexity", "Validation perplexity (base model)"),
    ("preference_accuracy_after", "accuracy", "Preference accuracy (held-out pairs, after DPO)"),
    ("preference_accuracy_before", "accuracy", "Preference accuracy (held-out pairs, before DPO)"),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return None if value != value or value in (float("inf"), float("-inf")) else round(value, 6)


def card_metadata(card: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML front matter, in the Hub's model-card conventions."""
    base = str(card.get("base_model") or "")
    local = is_local_path(base)
    method = str(card.get("method") or "lora")
    config = card.get("config") or {}
    dataset_hash = str(card.get("dataset_hash") or "")
    meta: dict[str, Any] = {
        "base_model": Path(base).name if local else base,
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "license": str(card.get("license") or base_license(base) or "other"),
        "tags": method_tags(method, bool(config.get("use_rslora"))),
    }
    if not local and base:
        meta["tags"].append(f"base_model:adapter:{base}")
    metrics = card.get("metrics") or {}
    values = [
        {"type": kind, "name": name, "value": _number(metrics.get(key))}
        for key, kind, name in MODEL_INDEX_METRICS
        if _number(metrics.get(key)) is not None
    ]
    if values:
        dataset: dict[str, Any] = {"type": "annotune-dataset-version", "name": "Annotune dataset version"}
        if dataset_hash:
            dataset["name"] = f"Annotune dataset version {dataset_hash}"
            dataset["revision"] = dataset_hash
        meta["model-index"] = [
            {
                "name": f"{meta['base_model']}-{method}-adapter",
                "results": [
                    {
                        "task": {"type": "text-generation", "name": "Text generation"},
                        "dataset": dataset,
                        "metrics": values,
                    }
                ],
            }
        ]
    return meta


def write_model_card(folder: str | Path, card: dict[str, Any]) -> Path:
    """Write README.md into the adapter folder: YAML front matter in the Hub's conventions (`card_metadata`),
    then the lineage, training settings, metrics and the full lineage as JSON. Replaces PEFT's own card.

    Keys: base_model (hub id or local path: what the adapter config names), method, config, dataset_hash,
    metrics, package_versions; optional: license, target_modules, kept_unquantized, samples, truncation,
    behaviour (a `results.BehaviourReport`: its tables go in a section of their own, not in the JSON).
    """
    import yaml

    folder = Path(folder)
    meta = card_metadata(card)
    base = str(card.get("base_model") or "")
    local = is_local_path(base)
    method = str(card.get("method") or "lora")
    config = card.get("config") or {}
    metrics = card.get("metrics") or {}
    versions = card.get("package_versions") or {}
    base_line = f"local folder `{Path(base).name}` at `{base}`" if local else f"[{base}](https://huggingface.co/{base})"
    lineage = [
        ("Base model", base_line),
        (
            "Method",
            METHOD_NAMES.get(method, method)
            + (" with rank-stabilised scaling (rsLoRA)" if config.get("use_rslora") else ""),
        ),
        ("Dataset version (sha256 of its content)", f"`{card.get('dataset_hash') or '—'}`"),
        ("Target modules", _fmt(card.get("target_modules"))),
        ("Seed", _fmt(config.get("seed"))),
        ("Trained with", ", ".join(f"{k} {v}" for k, v in versions.items() if v) or "—"),
    ]
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=120).rstrip(),
        "---",
        "",
        f"# {METHOD_NAMES.get(method, method)} adapter for {meta['base_model']}",
        "",
        f"A PEFT adapter trained by Annotune with **{method}** on an immutable dataset version of curated "
        "conversations.",
        "",
        "## Usage",
        "",
        "```python",
        "from peft import AutoPeftModelForCausalLM",
        "from transformers import AutoTokenizer",
        "",
        'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")',
        f"tokenizer = AutoTokenizer.from_pretrained({json.dumps(base)})",
        "```",
        "",
        "adapter_config.json names the base model as above"
        + (": on another machine, put the base there or edit `base_model_name_or_path`." if local else "."),
        "",
        "## Lineage",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in lineage],
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "| --- | --- |",
        *[f"| {k} | {_fmt(v)} |" for k, v in metrics.items()],
        "",
        "## Training settings",
        "",
        "| setting | value |",
        "| --- | --- |",
        *[f"| {k} | {_fmt(v)} |" for k, v in config.items()],
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
    lines += behaviour_section(card.get("behaviour"))
    lines += [
        "## Package versions",
        "",
        *[f"- {k}: {v}" for k, v in versions.items()],
        "",
        "## Lineage (JSON)",
        "",
        "```json",
        json.dumps({k: v for k, v in card.items() if k != "behaviour"}, indent=2, default=str),
        "```",
        "",
    ]
    path = folder / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


BEHAVIOUR_HEADING = "## What the adapter learned: the project's checks on generated answers"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def behaviour_section(report: Any) -> list[str]:
    """The model card's behavioural evaluation section (a `results.BehaviourReport`), [] without one."""
    from .results import behaviour_view

    view = behaviour_view(report)
    if view is None:
        return []

    def row(r: Any) -> str:
        label = _cell(r.label) + (f" (`{r.code}`)" if r.code != "*" else "")
        return f"| {label} | {r.base} | {r.adapter} | {r.n} | {_cell(r.note or r.change)} |"

    lines = [
        BEHAVIOUR_HEADING,
        "",
        f"Greedy answers of the base model and of the adapter ({_cell(view.decoding)}); {_cell(view.cost)}. "
        "An answer passes a check when the check finds nothing in it.",
        "",
        "| check | base passes | adapter passes | answers | change |",
        "| --- | --- | --- | --- | --- |",
        row(view.overall),
        *[row(r) for r in view.checks],
        "",
    ]
    if view.clean:
        lines += [
            "Nothing found in any answer, base or adapter, by: "
            + ", ".join(f"{_cell(r.label)} (`{r.code}`)" for r in view.clean)
            + ".",
            "",
        ]
    if view.categories:
        lines += [
            "| category | base passes every check | adapter passes every check | answers | change |",
            "| --- | --- | --- | --- | --- |",
            *[
                f"| {_cell(r.label)} | {r.base} | {r.adapter} | {r.n} | {_cell(r.note or r.change)} |"
                for r in view.categories
            ],
            "",
        ]
    lines += [f"- {_cell(note)}" for note in view.notes] + ([""] if view.notes else [])
    return lines


def card_with_behaviour(text: str, report: Any) -> str:
    """A model card's text with its behavioural evaluation section put in (replacing one already there):
    before "## Package versions", or at the end."""
    section = "\n".join(behaviour_section(report))
    if not section:
        return text
    start = text.find(BEHAVIOUR_HEADING)
    if start >= 0:
        end = text.find("\n## ", start + len(BEHAVIOUR_HEADING))
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    anchor = text.find("## Package versions")
    if anchor < 0:
        return text.rstrip("\n") + "\n\n" + section + "\n"
    return text[:anchor] + section + "\n" + text[anchor:]


def zip_folder(folder: str | Path, zip_path: str | Path) -> Path:
    """Zip every file under `folder` (paths relative to it) into `zip_path`."""
    folder, zip_path = Path(folder), Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file != zip_path:
                zf.write(file, file.relative_to(folder))
    return zip_path
