"""Memory estimates: computed by the engine once per model and inputs, then read from the model's row."""

from __future__ import annotations

import pytest

from training.engine.config import PRESETS
from training.models import BaseModel
from training.services import estimates
from training.services.base_models import base_model_register
from training.services.configs import resolve_config
from training.services.estimates import estimate_for, estimate_key, estimates_warm

pytestmark = pytest.mark.django_db


def _no_engine(*args, **kwargs):
    raise AssertionError("the engine was asked again")


def test_an_estimate_is_computed_once_and_kept_on_the_model(tiny_models, monkeypatch):
    model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    balanced = resolve_config(preset="balanced", config=None)
    first = estimate_for(base_model=model, config=balanced)  # the engine, in a subprocess
    assert first["total_bytes"] > first["base_weights_bytes"] > 0
    assert BaseModel.objects.get(pk=model.pk).estimates == {estimate_key(balanced): first}

    monkeypatch.setattr(estimates.subprocess, "run", _no_engine)
    # Another web process (a fresh row) and a field the estimate does not depend on: no engine run.
    slower = resolve_config(preset="balanced", config={"learning_rate": 1e-5, "epochs": 5})
    assert estimate_for(base_model=BaseModel.objects.get(pk=model.pk), config=slower) == first
    wider = resolve_config(preset="balanced", config={"rank": 64})
    with pytest.raises(AssertionError, match="asked again"):
        estimate_for(base_model=model, config=wider)


def test_warming_computes_every_preset_once(tiny_models, monkeypatch):
    model = BaseModel.objects.create(name="tiny-mistral", source=tiny_models("mistral"))
    assert estimates_warm(model) == 2 * len(PRESETS)  # each preset with the method of either device (launch_plan)
    assert estimates_warm(model) == 0
    monkeypatch.setattr(estimates.subprocess, "run", _no_engine)
    stored = BaseModel.objects.get(pk=model.pk)
    for preset in PRESETS:
        assert estimate_for(base_model=stored, config=resolve_config(preset=preset, config=None))["total_bytes"] > 0


def test_a_model_registered_again_under_its_name_loses_the_old_estimates(tiny_models):
    model = BaseModel.objects.create(name="tiny-llama", source=tiny_models("llama"))
    estimates_warm(model)
    assert BaseModel.objects.get(pk=model.pk).estimates
    facts = {"architecture": "MistralForCausalLM", "parameter_count": 1, "has_chat_template": True}
    again = base_model_register(name="tiny-llama", source=tiny_models("mistral"), facts=facts)
    assert again.pk == model.pk
    assert again.estimates == {}
