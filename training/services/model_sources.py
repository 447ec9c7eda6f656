"""Which local folders may become a base model, for whom, and what a refusal says.

Who may: staff register any folder outside the server's own data; a project owner registers only
folders under the roots the operator lists in ANNOTUNE_MODEL_ROOTS (empty by default: owners add hub
ids only). Against what: the folder and every file in it, after resolving symlinks and `..`, so a link
under an allowed root cannot point at another project's weights. Never allowed, for anyone: the
server's own folders (the var folder with the database, storage, merged models, training work folders,
built and quantised models, caches, the broker), where other projects' artifacts live.

A refusal names no server path and reads the same whether the folder exists or not: the folder is
checked against the roots before anything is read from it. Folders under an allowed root are then
checked for their files (config.json, weights) with messages that still name no path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.conf import settings

# How many entries of a folder are looked at for links leading out of the allowed roots; a larger
# folder is refused (a model folder holds tens of files, a hub snapshot a few hundred).
MAX_ENTRIES = 5000

NOT_ALLOWED = (
    "This folder is not under an allowed model root. Ask an administrator to add the model, "
    "or give a Hugging Face hub id."
)
NO_ROOTS = (
    "Only staff can add a local folder on this server. Ask an administrator to add the model, "
    "or give a Hugging Face hub id."
)
SERVER_FOLDER = (
    "This folder belongs to the server's own data (storage, training, models or caches) and cannot be a base model."
)
LINKS_OUT = "This folder links to files outside the allowed model roots; copy the files in instead."
TOO_MANY = f"This folder holds more than {MAX_ENTRIES:,} files; give the folder that holds config.json."
NOT_A_MODEL = (
    "No model was found there: give the folder that holds config.json and the weights "
    "(*.safetensors or pytorch_model*.bin)."
)
NO_WEIGHTS = "The folder has config.json but no weights (*.safetensors or pytorch_model*.bin)."


def is_staff(user) -> bool:
    return bool(getattr(user, "is_active", False) and (user.is_staff or user.is_superuser))


def real(path: str | Path) -> Path:
    """The path with `~`, `..` and every symlink resolved (a missing tail is kept as written)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def model_roots() -> list[Path]:
    """The operator's allowed roots for owners (ANNOTUNE_MODEL_ROOTS), resolved."""
    return [real(root) for root in settings.ANNOTUNE_MODEL_ROOTS if str(root).strip()]


def server_folders() -> list[Path]:
    """The server's own folders: never a base model's source, for anyone."""
    folders = [
        settings.VAR_DIR,
        settings.STORAGE_ROOT,
        settings.TRAINING_WORK_DIR,
        settings.TRAINING_MODELS_DIR,
        settings.TRAINING_QUANTIZED_DIR,
        settings.ARTIFACT_CACHE_DIR,
        settings.BROKER_DIR,
        settings.STATIC_ROOT,
    ]
    return [real(folder) for folder in folders if folder]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def allowed_path(path: Path, *, staff: bool) -> bool:
    """Whether a resolved path may be read as part of a base model by this kind of user."""
    if _inside(path, server_folders()):
        return False
    return staff or _inside(path, model_roots())


def folder_refusal(source: str, *, staff: bool) -> str | None:
    """Why `source` (an absolute path) may not be registered by this user, or None when it may.

    The first checks read nothing from the folder (a refusal there says the same for any path);
    only a folder under an allowed place is looked into.
    """
    roots = model_roots()
    if not staff and not roots:
        return NO_ROOTS
    folder = real(source)
    if _inside(folder, server_folders()):
        return SERVER_FOLDER if staff else NOT_ALLOWED
    if not staff and not _inside(folder, roots):
        return NOT_ALLOWED
    if not folder.is_dir() or not (folder / "config.json").is_file():
        return NOT_A_MODEL
    patterns = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
    if not any(next(folder.glob(p), None) for p in patterns):
        return NO_WEIGHTS
    return _links_refusal(folder, staff=staff)


def _links_refusal(folder: Path, *, staff: bool) -> str | None:
    """Every entry of the folder (links followed once, not walked into) must resolve to an allowed place."""
    seen = 0
    for directory, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            seen += 1
            if seen > MAX_ENTRIES:
                return TOO_MANY
            if not allowed_path(real(Path(directory) / name), staff=staff):
                return LINKS_OUT
    return None


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])(?:/[^\s/'\"`:,;()<>]+)+/?")


def scrub_paths(text: str, *known: str) -> str:
    """`text` with server paths taken out: the `known` ones (the folder as typed and resolved) become
    "the folder", any other absolute path becomes "…". For messages shown to people who are not staff."""
    for path in sorted({k.rstrip("/") for k in known if k.rstrip("/")}, key=len, reverse=True):
        text = re.sub(re.escape(path) + r"(?:/[^\s/'\"`:,;()<>]+)*/?", "the folder", text)
    return _ABSOLUTE_PATH.sub("…", text)
