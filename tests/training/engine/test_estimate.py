"""Memory / adapter-size estimates on the meta device (Llama-3-8B shapes, nothing downloaded)."""

from __future__ import annotations

import pytest

from training.engine import estimate_memory, llama3_8b_config


@pytest.fixture(scope="module")
def estimates():
    config = llama3_8b_config()
    return {
        m: estimate_memory(config, method=m, rank=16, target_modules="attention") for m in ("qlora", "lora", "dora")
    }


def test_llama3_8b_parameter_count(estimates):
    assert 8.0e9 < estimates["lora"].base_parameters < 8.1e9


def test_adapter_is_tiny_next_to_the_base(estimates):
    est = estimates["qlora"]
    # r * (in + out) for q, k, v, o in 32 layers: 16 * (8192 + 5120 + 5120 + 8192) * 32
    assert est.adapter_parameters == 16 * (8192 + 5120 + 5120 + 8192) * 32
    assert est.target_modules == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert est.adapter_file_bytes / est.base_checkpoint_bytes < 0.005
    assert est.adapter_to_base_ratio < 0.005


def test_qlora_base_is_about_a_quarter_of_16_bit(estimates):
    q, full = estimates["qlora"], estimates["lora"]
    assert full.base_weights_bytes == full.base_parameters * 2
    assert 0.25 < q.base_weights_bytes / full.base_weights_bytes < 0.4  # embeddings + head stay 16-bit
    assert q.total_bytes < full.total_bytes


def test_dora_adds_magnitude_vectors(estimates):
    extra = estimates["dora"].adapter_parameters - estimates["lora"].adapter_parameters
    assert extra == (4096 + 1024 + 1024 + 4096) * 32


def test_fits_verdict_and_checkpointing(estimates):
    est = estimates["qlora"]
    assert est.fits(80 * 2**30)
    assert not est.fits(8 * 2**30)
    small = estimate_memory(llama3_8b_config(), method="qlora", gradient_checkpointing=True, batch_size=1)
    assert small.activations_bytes < est.activations_bytes / 4
    assert small.fits(24 * 2**30)
    assert set(small.to_dict()) >= {"base_weights_bytes", "adapter_file_bytes", "optimizer_bytes", "total_bytes"}


def test_estimate_from_a_model_folder(llama_path):
    est = estimate_memory(llama_path, method="lora", rank=4, target_modules="all-linear")
    assert est.target_modules == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert est.adapter_parameters > 0
