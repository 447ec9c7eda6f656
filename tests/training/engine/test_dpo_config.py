"""Method "dpo" in the engine configuration: it needs an adapter to continue from, and beta stays in bounds."""

from __future__ import annotations

import pytest

from training.engine.config import DPO_NEEDS_PARENT, validate_config


def test_dpo_without_parent_is_refused_on_method():
    cfg, errors = validate_config({"method": "dpo"}, has_parent=False)
    assert cfg is None
    assert errors == {"method": DPO_NEEDS_PARENT}


def test_dpo_with_parent_takes_default_beta():
    cfg, errors = validate_config({"method": "dpo"}, has_parent=True)
    assert errors == {}
    assert cfg is not None
    assert cfg.method == "dpo"
    assert cfg.beta == 0.1


def test_sft_methods_need_no_parent():
    cfg, errors = validate_config({"method": "lora"}, has_parent=False)
    assert errors == {}
    assert cfg is not None


@pytest.mark.parametrize(
    ("beta", "message"),
    [
        (0, "must be greater than 0"),
        (-1, "must be greater than 0"),
        (6, "must be at most 5"),
        ("high", "must be a number"),
    ],
)
def test_beta_out_of_bounds_is_refused(beta, message):
    cfg, errors = validate_config({"method": "dpo", "beta": beta}, has_parent=True)
    assert cfg is None
    assert errors == {"beta": message}


def test_dpo_runs_in_one_process():
    cfg, errors = validate_config({"method": "dpo", "num_processes": 2}, has_parent=True)
    assert cfg is None
    assert "num_processes" in errors
