from __future__ import annotations

import pytest

from tests.serving.adapter_helpers import cached_base, random_adapter


@pytest.fixture(scope="session")
def tiny_base():
    return cached_base()


@pytest.fixture(scope="session")
def other_base():
    """A base model of other shapes: adapters of `tiny_base` do not fit it."""
    return cached_base(arch="mistral", size="small")


@pytest.fixture(scope="session")
def adapters(tiny_base, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": random_adapter(tiny_base, root / "a", seed=1),
        "b": random_adapter(tiny_base, root / "b", seed=2),
        "r8": random_adapter(tiny_base, root / "r8", seed=3, rank=8),
    }
