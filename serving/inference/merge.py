"""Fold an adapter into its base model: a plain model folder that `from_pretrained` loads as is."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .cache import load_base
from .errors import BaseModelMismatchError
from .files import adapter_config, check_fits_base


def merge_adapter(base_path: str | Path, adapter_path: str | Path, out_dir: str | Path, *, dtype: str = "float32"):
    """Merge the adapter into the base loaded in full precision (never the 4-bit weights) and save it.

    The LoRA update B·A·scale is added into each target layer's weight (`merge_and_unload`); the folder
    gets the model weights, its config, generation config and the tokenizer. Returns facts about it.
    A QLoRA adapter is merged into the full-precision base too: merging into quantised weights would
    round the update away.
    """
    from peft import PeftModel

    config = adapter_config(adapter_path)
    if config.get("peft_type") != "LORA":
        raise BaseModelMismatchError(f"Only LoRA / DoRA adapters can be merged, not {config.get('peft_type')}.")
    model, tokenizer = load_base(str(base_path), dtype=dtype)
    check_fits_base(model, adapter_path, base_label=str(base_path))
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=False)
    except (RuntimeError, ValueError) as exc:
        raise BaseModelMismatchError(f"The adapter does not fit the base model {base_path}: {exc}") from exc
    merged = peft_model.merge_and_unload(safe_merge=True)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return describe_folder(out) | {"parameter_count": sum(p.numel() for p in merged.parameters())}


def describe_folder(folder: str | Path) -> dict[str, Any]:
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    return {
        "path": str(folder),
        "files": sorted(p.name for p in files),
        "size_bytes": sum(p.stat().st_size for p in files),
    }
