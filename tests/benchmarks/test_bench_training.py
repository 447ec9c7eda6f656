"""`benchmarks/bench_training.py --quick --only compare` end to end on a tiny random model: the engine, TRL's
SFTTrainer and a bare loop train the demo's conversations one after the other, and every line it prints is a
JSON figure. Timings are printed, never checked; what is checked is that the comparison is a fair one (same
tokens, same labels, same steps, the same losses for the engine and TRL) and that the ratio is the one of the
figures printed beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTESTANTS = ("engine", "trl", "manual")

pytestmark = pytest.mark.slow  # six tiny training runs and their imports (about 40 s here)


def test_quick_comparison_prints_a_fair_engine_vs_trl_ratio(tmp_path):
    pytest.importorskip("trl", reason="TRL is a dev dependency (pip install -e '.[train,dev]')")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_training.py"), "--quick", "--only", "compare"]
    command += ["--model-dir", str(tmp_path / "models"), "--compare-steps", "3", "--repeats", "2"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    figures = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]  # every line is JSON
    for figure in figures:
        assert {"metric", "value", "unit"} <= set(figure), figure
    by_metric = {f["metric"]: f for f in figures}
    assert {"llama3_8b_adapter_vs_base", "bench_wall_seconds"} <= set(by_metric)
    assert "packed_useful_tokens_per_s" not in by_metric  # --only compare: no other part ran

    setup = by_metric["compare_setup"]
    assert setup["steps"] == 3
    assert setup["examples"] > 50  # the demo's approved conversations
    assert setup["same_tokens"] is True
    assert setup["same_labels"] is True  # TRL learns the tokens the engine learns: every answer
    assert setup["trl_loss"] == "assistant"
    assert setup["target_modules"] == setup["engine_target_modules"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert setup["orders"][0] != setup["orders"][1]  # the order changes between rounds
    assert all(sorted(order) == sorted(CONTESTANTS) for order in setup["orders"])

    speeds = {name: by_metric[f"{name}_tokens_per_s"] for name in CONTESTANTS}
    for name, figure in speeds.items():
        assert figure["unit"] == "tokens/s"
        assert len(figure["runs"]) == 2, name
        assert figure["value"] == pytest.approx(max(figure["runs"]), abs=0.06)  # the best run
        assert figure["steps_taken"] == 3, name
    assert speeds["engine"]["tokens"] == speeds["trl"]["tokens"] > 0  # the same batches: non-padding tokens

    ratio = by_metric["engine_vs_trl_tokens_per_second_ratio"]
    assert ratio["unit"] == "x"
    assert ratio["goal"] == ">= 1.2"
    assert ratio["value"] == pytest.approx(speeds["engine"]["value"] / speeds["trl"]["value"], rel=0.01)
    assert len(ratio["rounds"]) == 2
    assert ratio["cpu_basis"] > 0
    assert by_metric["engine_vs_manual_ratio"]["value"] > 0

    # Same initial adapter, same data order, same schedule: the engine and TRL learn the same thing.
    engine_loss, trl_loss = by_metric["engine_train_loss"], by_metric["trl_train_loss"]
    assert engine_loss["runs"] == pytest.approx(trl_loss["runs"], rel=1e-3)
    assert engine_loss["last_logged"] == pytest.approx(trl_loss["last_logged"], rel=1e-3)
