"""Configuration schema, defaults, presets and per-field error messages."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from training.engine import PRESETS, config_schema, default_config, preset, validate_config


def test_schema_is_valid_json_schema_with_defaults_and_presets():
    schema = config_schema()
    Draft202012Validator.check_schema(schema)
    json.dumps(schema)
    assert set(schema["x-presets"]) == {"quick", "balanced", "thorough"}
    assert all("default" in spec for spec in schema["properties"].values())


def test_empty_config_takes_defaults():
    cfg, errors = validate_config({})
    assert errors == {}
    assert cfg is not None
    assert cfg.to_dict() == default_config()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_validate(name):
    cfg, errors = validate_config(preset(name))
    assert errors == {}
    assert cfg is not None
    # A preset names no method: the launch plan picks it by device (training/services/launch_plan.py).
    assert "method" not in PRESETS[name]
    assert cfg.method == default_config()["method"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("method", "full", "must be one of: qlora, lora, dora"),
        ("rank", 0, "must be at least 1"),
        ("rank", 2.5, "must be a whole number"),
        ("learning_rate", 0, "must be greater than 0"),
        ("learning_rate", "fast", "must be a number"),
        ("dropout", 0.95, "must be at most 0.9"),
        ("packing", "yes", "must be true or false"),
        ("batch_size", True, "must be a whole number"),
        ("target_modules", [], "non-empty list"),
        ("target_modules", "mlp", "'attention', 'all-linear'"),
        ("lr_scheduler", "warp", "must be one of"),
        ("max_steps", 0, "-1 (use epochs) or at least 1"),
        ("eval_fraction", 0.7, "must be at most 0.5"),
        ("bogus", 1, "unknown field"),
    ],
)
def test_bad_values_give_field_messages(field, value, message):
    cfg, errors = validate_config({field: value})
    assert cfg is None
    assert message in errors[field]


def test_several_errors_are_reported_together():
    _cfg, errors = validate_config({"rank": -1, "alpha": 0, "seed": "x"})
    assert set(errors) == {"rank", "alpha", "seed"}


def test_explicit_module_list_is_accepted():
    cfg, errors = validate_config({"target_modules": ["q_proj", "v_proj"], "method": "dora", "use_rslora": True})
    assert errors == {}
    assert cfg is not None
    assert cfg.target_modules == ["q_proj", "v_proj"]


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"num_processes": 0}, "num_processes", "must be at least 1"),
        ({"num_processes": 65}, "num_processes", "must be at most 64"),
        ({"device": "tpu"}, "device", "must be one of: auto, cpu, cuda"),
        ({"distributed": "fsdp"}, "distributed", "set num_processes to 2 or more"),
        ({"distributed": "fsdp", "num_processes": 2, "device": "cpu"}, "distributed", "CUDA devices only"),
    ],
)
def test_process_and_device_settings_are_checked(config, field, message):
    cfg, errors = validate_config(config)
    assert cfg is None
    assert message in errors[field]


def test_several_processes_default_to_one_and_fsdp_needs_cuda_and_two():
    cfg, _ = validate_config({})
    assert (cfg.num_processes, cfg.device, cfg.distributed) == (1, "auto", "ddp")
    cfg, errors = validate_config({"distributed": "fsdp", "num_processes": 2, "method": "qlora"})
    assert errors == {}
    assert cfg.num_processes == 2
