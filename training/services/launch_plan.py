"""The launch plan: one answer to "what will this launch run, with what, where", for every way of starting
training (the launch service, the launch form's estimate and the estimate API).

It resolves the configuration (preset, then the user's fields), picks the method where neither names
one, estimates memory and places the job on a device class. The method depends on the device the job
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

from dataclasses import dataclass
from typing import Any

from ..models import BaseModel
from .configs import METHOD_BY_DEVICE
from .estimates import estimate_for
from .placement import Placement, place

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
    estimate: dict[str, Any]
    placement: Placement
    method_reason: str  # one sentence when the platform chose the method, "" when the user named it

    @property
    def refusal(self) -> str | None:
        return self.placement.refusal


def plan_launch(*, base_model: BaseModel, config: dict[str, Any], method_fixed: bool) -> LaunchPlan:
    """The plan for a resolved `config` on `base_model`. `method_fixed`: the user (or a preset, or the adapter
    training continues from) named the method. Raises ApplicationError when the model cannot be estimated."""
    if method_fixed:
        estimate = estimate_for(base_model=base_model, config=config)
        return LaunchPlan(config, estimate, place(config=config, estimate=estimate), "")
    # Placed first with the method that needs least memory: the device class it lands on picks the method.
    candidates = [_planned(base_model, {**config, "method": method}) for method in ("qlora", "lora")]
    placed = next((plan for plan in candidates if plan.refusal is None), None)
    if placed is None:
        return candidates[0]
    device = placed.placement.needs.device_type
    wanted = METHOD_BY_DEVICE.get(device, placed.config["method"])
    chosen = next((plan for plan in candidates if plan.config["method"] == wanted), placed)
    if chosen.refusal is None:
        chosen.method_reason = METHOD_REASONS.get(device, "")
        return chosen
    placed.method_reason = METHOD_REASONS["cpu-too-big"] if wanted == "lora" else ""
    return placed


def _planned(base_model: BaseModel, config: dict[str, Any]) -> LaunchPlan:
    estimate = estimate_for(base_model=base_model, config=config)
    return LaunchPlan(config, estimate, place(config=config, estimate=estimate), "")


def method_reason_for(*, preset: str, method: str, device_type: str) -> str:
    """The sentence a job page shows for a job launched from a preset whose method is the one the plan picks on
    its device ("" otherwise: the user named the method, or the job is not from a preset)."""
    from ..engine.config import PRESETS

    if not preset or "method" in PRESETS.get(preset, {}) or METHOD_BY_DEVICE.get(device_type) != method:
        return ""
    return METHOD_REASONS.get(device_type, "")
