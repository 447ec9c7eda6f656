"""Check that a base model can be used, in a process of its own: `python -m training.services.base_model_probe`.

No Django here, and torch / transformers load only inside `probe`: the web process runs this module as a
child process (see `base_models.describe_in_subprocess`), never in itself.

A usable base model has a readable config, a readable tokenizer and a chat template. A tokenizer without
a chat template gets the default ChatML template: the tokenizer is saved with it into `prepared_dir`,
next to links to the model's other files, and that folder is what the platform loads from then on
(the original folder or cache is never written to).

Prints one JSON line: {"ok": true, "facts": {...}} or {"ok": false, "field": ..., "message": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from training.engine.tiny import CHAT_TEMPLATE

# The ChatML template the tiny models carry, with `{% generation %}` markers around the answers (so the
# assistant mask comes from the template, for the engine and for TRL's assistant_only_loss).
DEFAULT_CHAT_TEMPLATE = CHAT_TEMPLATE
DEFAULT_TEMPLATE_NOTE = (
    "The tokenizer has no chat template, so the default ChatML template (<|im_start|>role … <|im_end|>) "
    "is applied; the model is loaded from a prepared folder holding the tokenizer with that template."
)


class ProbeError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def looks_like_path(source: str) -> bool:
    """A local folder (absolute, relative with ./ or ../, or home-relative) rather than a hub id.

    Decided from the text alone: whether something exists on the server never changes the answer
    (a refusal must not tell which paths exist)."""
    return source.startswith(("/", "./", "../", "~", "\\", ".\\", "..\\")) or (len(source) > 1 and source[1] == ":")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:400] + "…"


def check_folder(folder: Path) -> None:
    """The checks of a local model folder that need no library: ValueError naming the problem."""
    if not folder.exists():
        raise ValueError(f"no folder at {folder}")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file; give the folder that holds config.json")
    if not (folder / "config.json").is_file():
        raise ValueError(f"no config.json in {folder}")
    patterns = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
    if not any(next(folder.glob(p), None) for p in patterns):
        raise ValueError(f"no weights (*.safetensors or pytorch_model*.bin) in {folder}")


def _resolve(source: str, offline: bool) -> Path:
    """The local folder holding the model's files (a hub id resolves to its cached snapshot)."""
    if looks_like_path(source):
        folder = Path(source).expanduser()
        try:
            check_folder(folder)
        except ValueError as exc:
            raise ProbeError("source", str(exc)) from None
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        # Training loads base models from local files only (engine/model.py): a hub id must be in the cache.
        return Path(snapshot_download(source, local_files_only=True))
    except HFValidationError as exc:
        raise ProbeError("source", f"{source!r} is neither a folder nor a Hugging Face hub id: {_short(exc)}") from exc
    except Exception as exc:  # a cache miss: say how to get the files
        why = "HF_HUB_OFFLINE is set, so it cannot be downloaded here" if offline else "training reads local files only"
        raise ProbeError(
            "source",
            f"{source} is not in the local Hugging Face cache and {why}. Download it first "
            f"(huggingface-cli download {source}) or give the path of a local model folder.",
        ) from exc


def _prepare(folder: Path, tokenizer: Any, prepared_dir: Path) -> None:
    """`prepared_dir`: the tokenizer saved with the default template, links to every other file of `folder`."""
    if prepared_dir.exists():
        shutil.rmtree(prepared_dir)
    prepared_dir.mkdir(parents=True)
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    tokenizer.save_pretrained(prepared_dir)  # real files first: a link would be written through
    for item in folder.iterdir():
        target = prepared_dir / item.name
        if not target.exists() and not target.is_symlink():
            target.symlink_to(item.resolve(), target_is_directory=item.is_dir())


def probe(source: str, *, offline: bool, prepared_dir: str | None = None) -> dict[str, Any]:
    """Facts about `source` (see module docstring); raises ProbeError naming the problem."""
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    folder = _resolve(source, offline)
    try:
        check_folder(folder)  # a cached snapshot may lack its weights
    except ValueError as exc:
        raise ProbeError("source", str(exc)) from None

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any parse error is reported as it is
        raise ProbeError("source", f"config.json in {folder} could not be read: {_short(exc)}") from exc
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception as exc:  # noqa: BLE001
        raise ProbeError(
            "source",
            f"{getattr(config, 'model_type', '?')} is not a causal language model transformers can build: "
            f"{_short(exc)}",
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ProbeError("source", f"tokenizer could not be read: {_short(exc)}") from exc

    facts: dict[str, Any] = {
        "architecture": (getattr(config, "architectures", None) or [type(model).__name__])[0],
        "model_type": config.model_type,
        "parameter_count": int(sum(p.numel() for p in model.parameters())),
        "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "template_note": "",
        "load_path": "",
    }
    if not facts["has_chat_template"]:
        if not prepared_dir:
            raise ProbeError("source", "the tokenizer has no chat template")
        _prepare(folder, tokenizer, Path(prepared_dir))
        facts.update(has_chat_template=True, template_note=DEFAULT_TEMPLATE_NOTE, load_path=str(prepared_dir))
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--prepared-dir", default=None)
    args = parser.parse_args(argv)
    try:
        facts = probe(args.source, offline=args.offline, prepared_dir=args.prepared_dir)
    except ProbeError as exc:
        print(json.dumps({"ok": False, "field": exc.field, "message": exc.message}))
        return 0
    print(json.dumps({"ok": True, "facts": facts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
