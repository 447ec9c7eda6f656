"""Which linear layers of a base the 4-bit kernels cannot run, computed from its config before loading.

bitsandbytes (0.50) quantises any `nn.Linear` to NF4, but its CPU inference kernel does not run every
shape. In eval mode without gradients (evaluation, generation) on a CPU with AVX512-BF16,
`Linear4bit.forward` repacks the 4-bit weight for that kernel (`_convert_weight_packed_for_cpu`),
which needs
- out_features divisible by 32 (`assert N % block_n == 0`, block_n = 32), and
- in_features divisible by the quantisation block size, 64 (the per-block scales are reshaped to
  `[out_features, in_features // blocksize]`; a remainder fails with "shape ... is invalid").
A layer breaking either rule trains fine and then fails at the first evaluation. The CUDA kernels
accept any shape (a misaligned in_features falls back to dequantise + matmul), so the rule binds on
the CPU only; it is applied on every device all the same, so that a base's 4-bit copy, a job's
lineage and the adapter's base are the same wherever the job ran, and a model trained on a GPU
still evaluates on a CPU. Real checkpoints rarely break it (their widths are multiples of 64); the
tiny "small" model does (MLP width 688).

Layers that break it are kept in the compute dtype, passed to transformers through
`BitsAndBytesConfig(llm_int8_skip_modules=[...])`. That list replaces transformers' own default
(the output head and tied weights), so `skip_modules` returns both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OUT_FEATURES_MULTIPLE = 32  # bitsandbytes' block_n for the CPU packed 4-bit layout
BLOCKSIZE = 64  # bitsandbytes' default 4-bit quantisation block size (what transformers uses)


@dataclass(frozen=True)
class SkipPlan:
    """`unsupported`: linear layers (full module names) the 4-bit kernels cannot run, with why;
    `default`: what transformers keeps unquantised anyway (output head, tied weights)."""

    unsupported: dict[str, str]
    default: list[str]

    @property
    def skip_modules(self) -> list[str]:
        """The `llm_int8_skip_modules` list: transformers' defaults plus the unsupported layers."""
        return sorted(set(self.default) | set(self.unsupported))


def shape_problem(in_features: int, out_features: int, blocksize: int = BLOCKSIZE) -> str | None:
    """Why a [out_features, in_features] 4-bit weight cannot run on the 4-bit kernels, or None."""
    problems = []
    if out_features % OUT_FEATURES_MULTIPLE:
        problems.append(f"out_features {out_features} is not a multiple of {OUT_FEATURES_MULTIPLE}")
    if in_features % blocksize:
        problems.append(f"in_features {in_features} is not a multiple of {blocksize}")
    return "; ".join(problems) or None


def plan_from_model(model: Any, blocksize: int = BLOCKSIZE) -> SkipPlan:
    """The plan for an instantiated model (meta device is enough: only shapes and names are read)."""
    import torch
    from transformers.pytorch_utils import Conv1D
    from transformers.quantizers.base import get_keys_to_not_convert

    default = sorted(get_keys_to_not_convert(model))
    unsupported: dict[str, str] = {}
    for name, module in model.named_modules():
        if type(module) is torch.nn.Linear:  # what transformers replaces with Linear4bit
            in_features, out_features = module.in_features, module.out_features
        elif isinstance(module, Conv1D):
            in_features, out_features = module.weight.shape
        else:
            continue
        if any(name == d or name.startswith(d + ".") for d in default):
            continue
        problem = shape_problem(int(in_features), int(out_features), blocksize)
        if problem:
            unsupported[name] = problem
    return SkipPlan(unsupported=unsupported, default=default)


def plan(config: Any, blocksize: int = BLOCKSIZE) -> SkipPlan:
    """The plan for a model config (a `PretrainedConfig`), built on the meta device: no weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return plan_from_model(model, blocksize)


def plan_for_path(path: Any, blocksize: int = BLOCKSIZE) -> SkipPlan:
    """The plan for the model folder (or hub id, offline) at `path`."""
    from transformers import AutoConfig

    return plan(AutoConfig.from_pretrained(str(path), local_files_only=True), blocksize)


def summary(unsupported: dict[str, str]) -> str:
    """One line for the job log: which layers stay 16-bit and why, grouped by layer kind."""
    by_kind: dict[str, list[str]] = {}
    for name, problem in unsupported.items():
        by_kind.setdefault(f"{name.rsplit('.', 1)[-1]} ({problem})", []).append(name)
    parts = [f"{len(names)} x {kind}" for kind, names in sorted(by_kind.items())]
    return (
        f"QLoRA: {len(unsupported)} linear layer(s) kept unquantised (compute dtype), their shape does not fit "
        f"the 4-bit kernels: " + ", ".join(parts)
    )
