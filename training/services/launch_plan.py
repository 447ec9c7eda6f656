"""The launch plan: one answer to "what will this launch run, with what, where", for every way of starting
training (the launch service, the sweep launch, the launch form's estimate and the estimate API), built by
`job_spec` as one typed `JobSpec`.

It takes the adapter training continues from (its base model and shape), resolves the configuration
(preset, then the user's fields), picks the method where neither names one, reads the memory estimate
kept for the base model and places the job on a device class. It never computes an estimate: one that is
not kept yet leaves the spec unplaced, naming what to estimate (`missing`), and the caller has a worker
compute it (training/services/estimating.py says what the user sees meanwhile). The method depends on the device the job
will run on, so placement comes first:

- CUDA: QLoRA. A 4-bit base needs about a quarter of the memory, which is what lets one home GPU train
  a 7-8B base; the cost in quality is small against what it makes possible.
- CPU: LoRA, when the base fits the worker's memory at full precision (a small base does). Measured on
  SmolLM2-135M-Instruct on this project's 2-core reference host with one torch thread, LoRA and QLoRA
  trained at the same speed (92 and 90 tokens/s) and peaked at about the same memory (2.4 and 2.7 GB),
  while NF4 rounding raised the base's own validation loss from 4.49 to 4.94 and bitsandbytes' CPU
  kernels add a dependency on its CPU build. So on a CPU QLoRA buys nothing and costs quality.

A user who names a method gets it (QLoRA stays selectable and tested on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotation.models import Project
from annotune.errors import ApplicationError
from serving.models import Adapter

from ..engine.config import PRESETS
from ..models import BaseModel
from .configs import METHOD_BY_DEVICE, resolve_config
from .continuation import continue_from
from .estimates import known_estimate
from .placement import Placement, place

DEFAULT_PRESET = "balanced"

# Why a job gets the method METHOD_BY_DEVICE names for its device class (when neither its preset nor its user
# names one), in one sentence each, for the launch form and the job page.
METHOD_REASONS = {
    "cuda": "QLoRA, chosen for a GPU: the 4-bit base needs about a quarter of the memory, so larger bases fit "
    "one card.",
    "cpu": "LoRA, chosen for a CPU: a base this small fits in memory at full precision, and measured here LoRA "
    "trained as fast as QLoRA without the 4-bit rounding that made the base itself worse (validation loss 4.49 "
    "→ 4.94 on SmolLM2-135M).",
    "cpu-too-big": "QLoRA, chosen for a CPU because at full precision this base would not fit the worker's memory.",
}


@dataclass
class LaunchPlan:
    config: dict[str, Any]  # complete and validated
    estimate: dict[str, Any] | None  # None: not estimated yet (see `missing`)
    placement: Placement | None  # None: not placed yet
    method_reason: str  # one sentence when the platform chose the method, "" when the user named it
    missing: list[dict[str, Any]] = field(default_factory=list)  # configurations whose estimate is not kept

    @property
    def refusal(self) -> str | None:
        return self.placement.refusal if self.placement is not None else None


@dataclass
class JobSpec:
    """What a launch runs: the base model, the configuration, the adapter it continues from, the estimate
    and the placement (the last two None while an estimate is missing)."""

    base_model: BaseModel
    preset: str
    parent_adapter: Adapter | None
    method_fixed: bool  # the user, the preset or the parent named the method
    plan: LaunchPlan

    @property
    def config(self) -> dict[str, Any]:
        return self.plan.config

    @property
    def estimate(self) -> dict[str, Any] | None:
        return self.plan.estimate

    @property
    def placement(self) -> Placement | None:
        return self.plan.placement

    @property
    def missing(self) -> list[dict[str, Any]]:
        return self.plan.missing

    @property
    def refusal(self) -> str | None:
        return self.plan.refusal


def method_named(preset: str | None, config: dict[str, Any] | None) -> bool:
    """Whether the launch names its method (the user's fields, or the preset); otherwise the launch plan picks
    it for the device the job runs on."""
    named = "method" in (PRESETS.get(preset or "") or {})
    return named or (isinstance(config, dict) and "method" in config)


def job_spec(
    *,
    project: Project,
    preset: str | None,
    config: dict[str, Any] | None,
    base_model: BaseModel | None = None,
    parent_adapter: Adapter | None = None,
    dataset_version: Any = None,
) -> JobSpec:
    """The spec of a launch: `preset` gives the starting values (balanced when neither it nor `config` is
    given), `config` overrides single fields; `parent_adapter` fixes the base model and the adapter's shape.
    Refuses (ApplicationError, by field): another project's or an untrained parent, a contradicting override,
    no base model, an invalid configuration, a model whose estimate just failed. No writes, no subprocess."""
    if preset is None and config is None:
        preset = DEFAULT_PRESET
    if parent_adapter is not None:
        base_model, config = continue_from(
            project=project,
            parent=parent_adapter,
            base_model=base_model,
            config=config,
            dataset_version=dataset_version,
        )
    base_model = base_model or project.base_model
    if base_model is None:
        raise ApplicationError(
            "Choose a base model for this project before training.", {"base_model": ["No base model chosen."]}
        )
    fixed = parent_adapter is not None or method_named(preset, config)
    config = resolve_config(preset=preset, config=config, has_parent=parent_adapter is not None)
    plan = plan_launch(base_model=base_model, config=config, method_fixed=fixed)
    return JobSpec(base_model, preset or "", parent_adapter, fixed, plan)


def plan_launch(*, base_model: BaseModel, config: dict[str, Any], method_fixed: bool) -> LaunchPlan:
    """The plan for a resolved `config` on `base_model` from the kept estimates (unplaced, naming the missing
    ones, when one is not kept). `method_fixed`: the user (or a preset, or the adapter training continues
    from) named the method. Raises ApplicationError when the model's estimate just failed."""
    configs = [config] if method_fixed else [{**config, "method": method} for method in ("qlora", "lora")]
    estimates = [known_estimate(base_model=base_model, config=c) for c in configs]
    missing = [c for c, estimate in zip(configs, estimates, strict=True) if estimate is None]
    if missing:
        return LaunchPlan(config, None, None, "", missing)
    candidates = [
        LaunchPlan(c, estimate, place(config=c, estimate=estimate), "")
        for c, estimate in zip(configs, estimates, strict=True)
        if estimate is not None
    ]
    if method_fixed:
        return candidates[0]
    # Placed first with the method that needs least memory: the device class it lands on picks the method.
    placed = next((plan for plan in candidates if plan.refusal is None), None)
    if placed is None or placed.placement is None:
        return candidates[0]
    device = placed.placement.needs.device_type
    wanted = METHOD_BY_DEVICE.get(device, placed.config["method"])
    chosen = next((plan for plan in candidates if plan.config["method"] == wanted), placed)
    if chosen.refusal is None:
        chosen.method_reason = METHOD_REASONS.get(device, "")
        return chosen
    placed.method_reason = METHOD_REASONS["cpu-too-big"] if wanted == "lora" else ""
    return placed


def method_reason_for(*, preset: str, method: str, device_type: str) -> str:
    """The sentence a job page shows for a job launched from a preset whose method is the one the plan picks on
    its device ("" otherwise: the user named the method, or the job is not from a preset)."""
    from ..engine.config import PRESETS

    if not preset or "method" in PRESETS.get(preset, {}) or METHOD_BY_DEVICE.get(device_type) != method:
        return ""
    return METHOD_REASONS.get(device_type, "")
