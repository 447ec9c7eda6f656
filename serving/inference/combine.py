"""A new adapter from a weighted combination of adapters of one base model (`add_weighted_adapter`)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cache import load_base
from .errors import BaseModelMismatchError, IncompatibleAdaptersError
from .files import adapter_config, check_fits_base
from .merge import describe_folder

METHODS = ("linear", "cat", "svd")
COMBINED = "combined"


def check_combination(configs: Sequence[dict[str, Any]], method: str) -> None:
    """Refuse combinations `add_weighted_adapter` cannot do, before any weights are loaded."""
    if method not in METHODS:
        raise IncompatibleAdaptersError(f"Unknown combination method {method!r}; use one of {', '.join(METHODS)}.")
    if len(configs) < 2:
        raise IncompatibleAdaptersError("Pick at least two adapters to combine.")
    kinds = {c.get("peft_type") for c in configs}
    if kinds != {"LORA"}:
        raise IncompatibleAdaptersError(f"Only LoRA adapters can be combined (found {', '.join(map(str, kinds))}).")
    if any(c.get("use_dora") for c in configs):
        raise IncompatibleAdaptersError(
            "DoRA adapters cannot be combined: their magnitude vectors have no weighted sum. Merge them instead."
        )
    bases = {c.get("base_model_name_or_path") for c in configs if c.get("base_model_name_or_path")}
    if len(bases) > 1:
        raise BaseModelMismatchError(
            "These adapters were trained on different base models (" + ", ".join(sorted(bases)) + "); "
            "only adapters of one base model can be combined."
        )
    ranks = [max([c.get("r", 0), *(c.get("rank_pattern") or {}).values()]) for c in configs]
    if method == "linear" and len(set(ranks)) > 1:
        raise IncompatibleAdaptersError(
            f"A linear combination needs adapters of equal rank, these have ranks {ranks}. "
            "Use 'cat' (rank = sum of ranks) or 'svd' (rank = the largest) instead."
        )
    target_types = {type(c.get("target_modules")).__name__ for c in configs}
    if len(target_types) > 1:
        raise IncompatibleAdaptersError(
            "The adapters name their target modules differently (a pattern vs a list); they cannot be combined."
        )
    if any(c.get("modules_to_save") for c in configs):
        raise IncompatibleAdaptersError("Adapters that also save whole modules (modules_to_save) cannot be combined.")


def combine_adapters(
    base_path: str | Path,
    adapters: Sequence[tuple[str | Path, float]],
    method: str,
    out_dir: str | Path,
    *,
    svd_rank: int | None = None,
) -> dict[str, Any]:
    """Write the combined adapter (PEFT format) to `out_dir`; returns its config facts and size.

    linear: weighted sum of the A and of the B matrices (same rank required, an approximation);
    cat: A and B stacked (exact weighted sum of the updates, rank = sum of ranks);
    svd: exact weighted sum of the updates truncated by SVD to `svd_rank` (default: the largest rank).
    """
    from peft import PeftModel

    configs = [adapter_config(path) for path, _ in adapters]
    check_combination(configs, method)
    model, _tokenizer = load_base(str(base_path))
    names = [f"a{i}" for i in range(len(adapters))]
    peft_model = None
    for name, (path, _weight) in zip(names, adapters, strict=True):
        check_fits_base(model, path, base_label=str(base_path))
        try:
            if peft_model is None:
                peft_model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
            else:
                peft_model.load_adapter(str(path), adapter_name=name, is_trainable=False)
        except (RuntimeError, ValueError) as exc:
            raise BaseModelMismatchError(
                f"The adapter at {path} does not fit the base model {base_path}: {exc}"
            ) from exc
    assert peft_model is not None
    try:
        peft_model.add_weighted_adapter(
            adapters=names,
            weights=[float(w) for _, w in adapters],
            adapter_name=COMBINED,
            combination_type=method,
            svd_rank=svd_rank,
        )
    except (ValueError, TypeError) as exc:
        raise IncompatibleAdaptersError(f"These adapters cannot be combined with {method!r}: {exc}") from exc
    peft_model.set_adapter(COMBINED, inference_mode=True)
    for name in names:
        peft_model.delete_adapter(name)
    out = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="combine-") as tmp:
        peft_model.save_pretrained(tmp, selected_adapters=[COMBINED])
        saved = Path(tmp) / COMBINED  # PEFT saves non-default adapters in a sub-folder of their name
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(saved, out)
    config = adapter_config(out)
    return describe_folder(out) | {"rank": config.get("r"), "target_modules": config.get("target_modules")}
