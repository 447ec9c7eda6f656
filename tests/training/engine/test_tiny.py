"""Tiny offline models and the cheap import of the engine package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from training.engine import ModelNotFoundError, describe_model

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("fixture", "arch"), [("llama_path", "LlamaForCausalLM"), ("mistral_path", "MistralForCausalLM")]
)
def test_tiny_models_load_offline(request, fixture, arch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = request.getfixturevalue(fixture)
    info = describe_model(path)
    assert info["architecture"] == arch
    assert info["has_chat_template"] is True
    assert 100_000 < info["parameter_count"] < 1_000_000
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    assert sum(p.numel() for p in model.parameters()) == info["parameter_count"]
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert tok.eos_token == "<|im_end|>"
    assert tok.pad_token_id != tok.eos_token_id


def test_describe_missing_model(tmp_path):
    with pytest.raises(ModelNotFoundError):
        describe_model(tmp_path / "nothing")


def test_importing_the_engine_does_not_import_torch():
    code = (
        "import sys, training.engine as e; e.validate_config({}); e.config_schema(); "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'django') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
