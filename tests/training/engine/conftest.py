"""Tiny real models (random weights, locally trained tokenizer) shared by the engine tests."""

from __future__ import annotations

import pytest

FAST = {"batch_size": 8, "max_seq_length": 64, "logging_steps": 1, "save_steps": 1000, "warmup_ratio": 0.0}


@pytest.fixture(scope="session")
def llama_path(tmp_path_factory):
    from training.engine.tiny import build_tiny_model

    path = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_model(path, arch="llama", size="test")
    return str(path)


@pytest.fixture(scope="session")
def mistral_path(tmp_path_factory):
    from training.engine.tiny import build_tiny_model

    path = tmp_path_factory.mktemp("tiny-mistral")
    build_tiny_model(path, arch="mistral", size="test", seed=1)
    return str(path)


@pytest.fixture(scope="session")
def tokenizer(llama_path):
    from training.engine.model import load_tokenizer

    return load_tokenizer(llama_path)


@pytest.fixture
def conversations():
    from training.engine.tiny import toy_conversations

    return toy_conversations(40)
