"""serving.cache_target: how the playground, blind evaluations and the API ask the cache for an adapter."""

from __future__ import annotations

import pytest

from serving.models import Adapter
from serving.services import serving
from training.models import Method
from training.services import folders


@pytest.mark.parametrize(("method", "quantized"), [(Method.QLORA, True), (Method.LORA, False), (Method.DORA, False)])
def test_an_adapter_is_served_on_the_base_precision_it_was_trained_against(method, quantized):
    adapter = Adapter(pk=7, method=method, storage_path="adapters/7")
    target = serving.cache_target(adapter)
    assert target == {
        "adapter_name": "adapter-7",
        "adapter_path": folders.local_folder("adapters/7"),
        "quantized": quantized,
    }


def test_the_base_model_alone_is_served_at_full_precision():
    assert serving.cache_target(None) == {"adapter_name": None, "adapter_path": None, "quantized": False}
