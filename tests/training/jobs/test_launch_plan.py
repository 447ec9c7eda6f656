"""The launch plan picks the method for the device a job lands on when nobody named one: QLoRA on a GPU,
LoRA on a CPU (where a small base fits at full precision), and keeps a method the user or the adapter named.

No worker processes: adverts are written as the workers write them; estimates are numbers (the engine's
estimate runs in a subprocess and is tested elsewhere).
"""

from __future__ import annotations

import pytest

from training.processes.routing import Capacity
from training.services import launch_plan
from training.services.configs import resolve_config
from training.services.launch_plan import METHOD_REASONS, method_named, plan_launch

from .test_placement import GIB, advertise

pytestmark = pytest.mark.django_db

FULL_PRECISION = {"lora": 3 * GIB, "dora": 3 * GIB, "qlora": 1 * GIB}  # what each method needs, in this test's world


@pytest.fixture(autouse=True)
def estimates(monkeypatch):
    def known_estimate(*, base_model, config):
        return {"total_bytes": FULL_PRECISION[config["method"]], "base_weights_bytes": GIB // 2}

    monkeypatch.setattr(launch_plan, "known_estimate", known_estimate)


def plan(fake_base_model, preset="balanced", overrides=None):
    config = resolve_config(preset=preset, config=overrides)
    return plan_launch(base_model=fake_base_model, config=config, method_fixed=method_named(preset, overrides))


def test_a_cpu_worker_gets_lora_and_says_why(fake_base_model):
    advertise("cpu@a", Capacity("cpu", 1, 64 * 1024))
    chosen = plan(fake_base_model)
    assert chosen.config["method"] == "lora"
    assert chosen.placement.queue == "training.cpu"
    assert chosen.method_reason == METHOD_REASONS["cpu"]
    assert "4.49" in chosen.method_reason  # the measurement behind it, in words a user reads


def test_a_gpu_worker_gets_qlora(fake_base_model):
    advertise("cpu@a", Capacity("cpu", 1, 64 * 1024))
    advertise("gpu@b", Capacity("cuda", 1, 24 * 1024))
    chosen = plan(fake_base_model)
    assert (chosen.config["method"], chosen.placement.queue) == ("qlora", "training.cuda")
    assert chosen.method_reason == METHOD_REASONS["cuda"]


def test_before_any_advert_the_default_device_decides(fake_base_model, settings):
    settings.TRAINING_DEFAULT_DEVICE = "cpu"
    assert plan(fake_base_model).config["method"] == "lora"
    settings.TRAINING_DEFAULT_DEVICE = "cuda"
    assert plan(fake_base_model).config["method"] == "qlora"


def test_a_base_too_big_at_full_precision_stays_4_bit_on_a_cpu(fake_base_model):
    advertise("cpu@a", Capacity("cpu", 1, 2 * 1024))  # 2 GiB: QLoRA's 1 GiB fits, LoRA's 3 GiB does not
    chosen = plan(fake_base_model)
    assert chosen.config["method"] == "qlora"
    assert chosen.refusal is None
    assert chosen.method_reason == METHOD_REASONS["cpu-too-big"]


def test_a_cpu_worker_without_bitsandbytes_still_gets_lora(fake_base_model):
    advertise("cpu@a", Capacity("cpu", 1, 64 * 1024, methods=("lora", "dora")))
    chosen = plan(fake_base_model)
    assert (chosen.config["method"], chosen.refusal) == ("lora", None)


@pytest.mark.parametrize("method", ["qlora", "lora", "dora"])
def test_a_named_method_is_kept_on_any_device(fake_base_model, method):
    advertise("cpu@a", Capacity("cpu", 1, 64 * 1024))
    chosen = plan(fake_base_model, overrides={"method": method})
    assert chosen.config["method"] == method
    assert chosen.method_reason == ""


def test_nothing_fits_is_refused_with_the_reasons(fake_base_model):
    advertise("cpu@a", Capacity("cpu", 1, 512))
    chosen = plan(fake_base_model)
    assert chosen.refusal is not None
    assert "cpu@a" in chosen.refusal


def test_a_job_page_says_why_for_the_method_the_plan_picked():
    from training.services.launch_plan import method_reason_for

    assert method_reason_for(preset="balanced", method="lora", device_type="cpu") == METHOD_REASONS["cpu"]
    assert method_reason_for(preset="balanced", method="qlora", device_type="cuda") == METHOD_REASONS["cuda"]
    assert method_reason_for(preset="balanced", method="dora", device_type="cpu") == ""  # named by the user
    assert method_reason_for(preset="", method="lora", device_type="cpu") == ""  # no preset: a full configuration
