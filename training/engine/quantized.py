"""4-bit copies of base models, kept so that QLoRA quantises each base once, not on every job.

Quantising on load reads the whole 16-bit checkpoint: every page of it is mapped into the process
(and counts in its resident size) until loading ends, and the conversion takes time. The first
QLoRA job on a base saves the quantised model (packed NF4 weights with their quantisation state,
the rest as loaded) under `cache_dir/<key>/`; later jobs load that copy, about a third of the size,
with nothing to convert. The key covers everything that shapes the 4-bit weights: the base's
config and weight files (name, size, modification time), the quantisation settings (with the
layers kept unquantised, `llm_int8_skip_modules`: see quant_limits) and the library versions. An
unreadable copy is removed and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin")


def cache_key(base_path: str | Path, quantization: dict[str, Any]) -> str:
    base = Path(base_path)
    weights = sorted(p for p in base.iterdir() if p.suffix in WEIGHT_SUFFIXES or p.name.endswith(".index.json"))
    facts = {
        "config": (base / "config.json").read_text(),
        "weights": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in weights],
        "quantization": quantization,
        "versions": {name: _version(name) for name in ("transformers", "bitsandbytes")},
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cached_copy(cache_dir: str | Path, key: str) -> Path | None:
    folder = Path(cache_dir) / key
    return folder if (folder / "config.json").is_file() else None


def load_cached(folder: Path, load_kwargs: dict[str, Any]) -> Any | None:
    """The 4-bit model saved in `folder`; None (and the folder removed) if it cannot be loaded."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(str(folder), **load_kwargs)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with a copy, the base can make it again
        log.warning("Quantised copy %s is unreadable (%s); quantising the base again", folder, exc)
        shutil.rmtree(folder, ignore_errors=True)
        return None


def save_copy(model: Any, cache_dir: str | Path, key: str) -> Path | None:
    """Save a freshly quantised model under `cache_dir/key`. Written to a temporary folder and renamed,
    so a reader never sees half a copy and two jobs saving at once leave one. None if it failed
    (the job goes on: the copy only saves time and memory next time)."""
    cache = Path(cache_dir)
    tmp: Path | None = None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
        model.save_pretrained(str(tmp))
        os.replace(tmp, cache / key)  # fails if another job got there first: theirs is kept
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if cached_copy(cache, key) is None:
            log.warning("Could not keep a quantised copy in %s: %s", cache, exc)
    return cached_copy(cache, key)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
