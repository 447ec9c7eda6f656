"""The training process measures its peak memory, so the launch estimate can be checked against it."""

from __future__ import annotations

from training.engine import results
from training.engine.run import peak_memory_bytes


def test_the_peak_is_measured_in_bytes():
    peak = peak_memory_bytes()
    assert peak is not None
    assert peak > 10 * 2**20  # a Python process with torch loaded holds more than 10 MiB


def test_the_peak_is_a_metric_shown_in_binary_units():
    metrics = results.metrics(peak_memory_bytes=2.5 * 2**30)
    assert metrics == {"peak_memory_bytes": 2684354560}
    rows = {row["key"]: row for row in results.display_metrics(metrics)}
    assert rows["peak_memory_bytes"]["label"] == "Peak memory (measured)"
    assert rows["peak_memory_bytes"]["value"] == "2.5 GiB"
