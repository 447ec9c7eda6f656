"""`benchmarks/bench_curation.py --quick --seeds 1` end to end on a tiny random model: every line it prints is
a JSON figure, and the four effects are there (the figures of a random model mean nothing: none is checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EFFECTS = {"formatting_noise", "contradicted_facts", "unbalanced_set", "loop"}

pytestmark = pytest.mark.slow  # trains four tiny adapters (about 40 s here)


def test_quick_run_prints_the_four_effects_as_json_lines():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_curation.py"), "--quick", "--seeds", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    figures = [json.loads(line) for line in lines]  # every line is JSON
    for figure in figures:
        assert {"metric", "value", "unit", "effect"} <= set(figure), figure
        assert figure["value"] is None or isinstance(figure["value"], int | float), figure
    by_effect = {}
    for figure in figures:
        by_effect.setdefault(figure["effect"], set()).add((figure["metric"], figure.get("condition")))
    assert EFFECTS <= set(by_effect)
    assert {("format_defect_rate", "clean"), ("format_defect_rate", "noisy")} <= by_effect["formatting_noise"]
    assert {("fact_accuracy", "clean"), ("fact_accuracy", "noisy")} <= by_effect["contradicted_facts"]
    assert {("forgetting_ratio", "balanced"), ("forgetting_ratio", "unbalanced")} <= by_effect["unbalanced_set"]
    assert {("gap_closed_format", None), ("gap_closed_facts", None), ("flag_recall", None)} <= by_effect["loop"]
    ratios = [f for f in figures if f["metric"] == "forgetting_ratio"]
    assert all(f["value"] is not None and f["value"] > 0 for f in ratios)  # the engine's check ran
    assert figures[-1]["metric"] == "elapsed_seconds"
    for figure in figures:
        if "per_seed" in figure:
            assert len(figure["per_seed"]) == 1, figure  # one value per seed
