"""Does the one-click default teach the demo's house style? Trains the engine on the demo project's approved
conversations (the split a dataset version makes) with a preset on the default base model, then answers the
demo's ten held-out prompts greedily with the base and with the adapter and counts the answers in the house
style. Prints JSON lines: training seconds, tokens/s, validation loss base -> adapter, and the style counts.

    .venv/bin/python benchmarks/bench_demo_style.py                    # the balanced preset, LoRA (the CPU default)
    .venv/bin/python benchmarks/bench_demo_style.py --set learning_rate=5e-4 --set epochs=2

One torch thread (what a 2-core host's training worker gets). No Django database: the demo's data module
and the engine only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def emit(metric: str, value, unit: str, **extra) -> None:
    print(json.dumps({"metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def demo_split(validation_share: float = 0.16) -> tuple[list, list]:
    """The demo's approved conversations, split per category like a dataset version (deterministic)."""
    import hashlib

    from annotune.demo_data import APPROVED, SYSTEM_PROMPT

    by_category: dict[str, list] = {}
    for category, _tags, turns in APPROVED:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}] + [
            {"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(turns)
        ]
        by_category.setdefault(category, []).append(messages)
    train, validation = [], []
    for items in by_category.values():
        items.sort(key=lambda m: hashlib.sha256(json.dumps(m).encode()).hexdigest())
        n_val = int(len(items) * validation_share + 0.5)
        validation += items[:n_val]
        train += items[n_val:]
    return train, validation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--method", default="lora")
    parser.add_argument("--set", action="append", default=[], help="field=value over the preset (JSON values)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=str(ROOT / "var" / "models" / "SmolLM2-135M-Instruct"))
    parser.add_argument("--scores-out", help="write every example's scores (with its category and prompt) as JSON")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from annotune.demo_data import HELD_OUT_PROMPTS, STYLE_RULES, SYSTEM_PROMPT
    from training.engine.config import preset
    from training.engine.default_model import ensure_default_model_folder
    from training.engine.run import JobSpec, run_job
    from validators.style import StyleRules, follows_style

    model_dir = ensure_default_model_folder(args.model)
    config = {**preset(args.preset), "method": args.method}
    for item in args.set:
        key, value = item.split("=", 1)
        config[key] = json.loads(value)
    train, validation = demo_split()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = run_job(
            JobSpec(
                base_model_path=str(model_dir),
                train_examples=train,
                validation_examples=validation,
                output_dir=out,
                config=config,
            )
        )
        job_seconds = time.perf_counter() - started
        metrics = result.metrics
        label = {"preset": args.preset, "config": {k: config[k] for k in ("method", "learning_rate", "epochs", "rank")}}
        emit("job_seconds", round(job_seconds, 1), "s", **label)
        emit("train_seconds", round(metrics.get("train_runtime_seconds") or 0, 1), "s", **label)
        emit("tokens_per_second", round(metrics.get("tokens_per_second") or 0, 1), "tokens/s", **label)
        emit("train_examples", len(train), "examples", validation=len(validation))
        emit("val_loss_base", metrics.get("val_loss_base"), "nats/token", **label)
        emit("val_loss_adapter", metrics.get("val_loss_adapter"), "nats/token", **label)
        _defect_ranks(result.example_scores, {"train": train, "validation": validation}, label)
        if args.scores_out:
            sources = {"train": train, "validation": validation}
            rows = [{**score, "messages": sources[score["source"]][score["index"]]} for score in result.example_scores]
            Path(args.scores_out).write_text(json.dumps(rows, indent=1), encoding="utf-8")
        answers = _answers(model_dir, Path(out) / "adapter", HELD_OUT_PROMPTS, SYSTEM_PROMPT)
    for who in ("base", "adapter"):
        styled = sum(follows_style(text, StyleRules.from_dict(STYLE_RULES)) for text in answers[who])
        emit(f"held_out_in_house_style_{who}", styled, f"of {len(HELD_OUT_PROMPTS)}", **label)
    emit("example_answers", 0, "", base=answers["base"][:2], adapter=answers["adapter"][:2])


def _defect_ranks(scores, sources: dict[str, list], label: dict) -> None:
    """Where "What training found" (hardest to learn: highest loss under the adapter, all examples) puts each
    of the demo's planted defects: rank 1 is the hardest."""
    from annotune.demo_data import DEFECTS

    ranked = sorted((s for s in scores if s["adapter_loss"] is not None), key=lambda s: -s["adapter_loss"])
    for defect in DEFECTS:
        rank = next(
            (
                n
                for n, score in enumerate(ranked, 1)
                if any(m["content"] == defect.prompt for m in sources[score["source"]][score["index"]])
            ),
            None,
        )
        emit(f"found_rank_{defect.kind}", rank, f"of {len(ranked)} (hardest to learn)", **label)


def _answers(model_dir: Path, adapter_dir: Path, prompts, system: str) -> dict[str, list[str]]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(model_dir)), str(adapter_dir))
    model.eval()
    out: dict[str, list[str]] = {"base": [], "adapter": []}
    for prompt in prompts:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        for who in ("base", "adapter"):
            with torch.no_grad():
                if who == "base":
                    with model.disable_adapter():
                        generated = model.generate(**ids, max_new_tokens=96, do_sample=False)
                else:
                    generated = model.generate(**ids, max_new_tokens=96, do_sample=False)
            text = tokenizer.decode(generated[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
            out[who].append(text.strip())
    return out


if __name__ == "__main__":
    main()
