"""Training engine figures on a tiny-but-not-trivial Llama-architecture model (built offline).

    .venv/bin/python benchmarks/bench_training.py [--quick] [--steps N] [--model-dir DIR]

Prints JSON lines {"metric", "value", "unit", ...}:
  (a) engine_tokens_per_s, manual_tokens_per_s, engine_vs_manual_ratio  (goal >= 0.95): `run_job` vs a bare
      PEFT + transformers loop (same data, LoRA config, optimizer, schedule, clipping, batch, steps);
      best of `--repeats` alternating runs each, to damp noise from other processes on the machine;
  (b) packed_useful_tokens_per_s, padded_useful_tokens_per_s, packing_speedup (goal >= 1.3): non-padding
      tokens per second with and without packing on answers of varied length;
  (c) peak_rss_qlora_mb, peak_rss_lora_mb, qlora_vs_lora_rss_ratio (goal <= 0.4), each run in its own
      process set up like a platform job's (quantised-base cache, heap limit) (VmHWM), plus the same figures above the
      process's RSS after importing the ML stack; on the bench model and (suffix _large) on a ~0.75B one;
  (e) scoring_time_ratio (goal <= 0.35): per-example scoring (every train + validation example, base and
      adapter) ÷ training time of a one-epoch job on the bench model; planted_noise_recall_at_10: of 5
      corrupted answers among 60 consistent ones, how many rank in the top 10 by adapter loss after a short
      run (on the small model given general knowledge first, as a random base can barely be adapted);
      forgetting_seconds: the forgetting check (control-set sample, base and adapter, plus generations);
  (d) llama3_8b_adapter_vs_base (goal < 0.005): rank-16 attention adapter file vs 16-bit base checkpoint,
      computed on the meta device; plus the measured adapter / base file sizes of the bench model.
The full run uses size "bench" (~100M parameters); --quick uses size "small" (~4M).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))

from _common import emit  # noqa: E402


def peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak inherited across fork + exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ensure_model(model_dir: Path, size: str) -> Path:
    from training.engine import build_tiny_model, describe_model

    path = model_dir / f"llama-{size}"
    if not (path / "config.json").is_file():
        build_tiny_model(path, arch="llama", size=size, dtype="bfloat16", tokenizer_vocab=2000)
    info = describe_model(path)
    emit("bench_model_parameters", info["parameter_count"] / 1e6, "M", size=size)
    return path


def engine_config(args: argparse.Namespace, **extra) -> dict:
    return {
        "method": "lora",
        "rank": 16,
        "alpha": 32,
        "dropout": 0.0,
        "target_modules": "attention",
        "learning_rate": 2e-4,
        "lr_scheduler": "linear",
        "warmup_ratio": 0.0,
        "max_steps": args.steps,
        "batch_size": args.batch,
        "max_seq_length": args.seq,
        "logging_steps": 5,
        "save_steps": 100_000,
        "seed": 0,
        **extra,
    }


def run_engine(path: Path, conversations: list, config: dict, quantized_cache_dir: str | None = None) -> dict:
    """run_job; adds cpu_tokens_per_s (tokens per CPU-second of the training loop, from the progress events)."""
    from training.engine import JobSpec, run_job

    marks: dict[str, float] = {}

    def on_progress(event: dict) -> None:
        if event["event"] in ("start", "end"):
            marks[event["event"]] = time.process_time()
            marks[event["event"] + "_tokens"] = event["tokens_seen"]

    out = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    try:
        spec = JobSpec(
            base_model_path=str(path),
            train_examples=conversations,
            validation_examples=conversations[:2],
            output_dir=str(out),
            config=config,
            n_samples=0,
            quantized_cache_dir=quantized_cache_dir,
        )
        metrics = run_job(spec, on_progress).metrics
        metrics["cpu_tokens_per_s"] = (marks["end_tokens"] - marks["start_tokens"]) / (marks["end"] - marks["start"])
        return metrics
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_manual(path: Path, conversations: list, config: dict) -> tuple[float, float]:
    """A bare loop: transformers model + PEFT LoRA + torch AdamW + linear schedule.

    Returns (tokens per wall second, tokens per CPU second)."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup, set_seed

    from training.engine.data import build_features  # tokenization is not timed

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    features, _ = build_features(tokenizer, conversations, config["max_seq_length"])
    set_seed(config["seed"])
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    model.config.use_cache = False
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config["rank"],
        lora_alpha=config["alpha"],
        lora_dropout=config["dropout"],
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
    )
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config["learning_rate"], weight_decay=0.0)
    sched = get_linear_schedule_with_warmup(opt, 0, config["max_steps"])
    pad = tokenizer.pad_token_id

    def collate(batch):
        width = max(len(f["input_ids"]) for f in batch)
        ids = torch.full((len(batch), width), pad)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, f in enumerate(batch):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            labels[i, :n] = torch.tensor(f["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    loader = torch.utils.data.DataLoader(
        features,  # type: ignore[arg-type]
        batch_size=config["batch_size"],
        shuffle=True,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(0),
    )
    tokens, step = 0, 0
    start, cpu = time.perf_counter(), time.process_time()
    while step < config["max_steps"]:
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            tokens += int(batch["attention_mask"].sum())
            step += 1
            if step == config["max_steps"]:
                break
    return tokens / (time.perf_counter() - start), tokens / (time.process_time() - cpu)


def rss_child(path: str, method: str, steps: int, batch: int, seq: int, threads: int, cache: str | None) -> None:
    # Set up like a platform job's training process (training/runner.py).
    from training.runner import limit_heap_growth

    limit_heap_growth()
    import peft  # noqa: F401 - import the whole stack before the baseline reading
    import torch
    import transformers  # noqa: F401

    torch.set_num_threads(threads)

    from training.engine import toy_conversations

    baseline = current_rss_mb()
    args = argparse.Namespace(steps=steps, batch=batch, seq=seq)
    metrics = run_engine(Path(path), toy_conversations(64), engine_config(args, method=method), cache)
    print(json.dumps({"peak": peak_rss_mb(), "baseline": baseline, "tokens_per_s": metrics["tokens_per_second"]}))


def measure_rss(path: Path, method: str, args: argparse.Namespace, batch: int, cache: str) -> dict:
    cmd = [sys.executable, __file__, "--rss-child", method, "--model-path", str(path), "--quantized-cache", cache]
    cmd += ["--steps", str(args.rss_steps), "--batch", str(batch), "--seq", str(args.seq)]
    cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_rss(path: Path, args: argparse.Namespace, size: str, batch: int) -> None:
    """(c) for one model: peak RSS of QLoRA and LoRA runs, each in a fresh process, as platform jobs run.

    The first QLoRA job on a base quantises it and keeps the 4-bit copy (training/engine/quantized.py);
    every later one loads the copy. Both are reported; the ratio is for the later ones.
    """
    cache = tempfile.mkdtemp(prefix="bench-quantized-")
    try:
        first = measure_rss(path, "qlora", args, batch, cache)
        q = measure_rss(path, "qlora", args, batch, cache)
        lo = measure_rss(path, "lora", args, batch, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    suffix = "" if size == "bench" else f"_{size}"
    run = {"size": size, "steps": args.rss_steps, "batch": batch, "seq": args.seq}
    emit(f"peak_rss_qlora_first_job_mb{suffix}", first["peak"], "MiB", note="quantises the base", **run)
    emit(f"peak_rss_qlora_mb{suffix}", q["peak"], "MiB", baseline_after_imports=round(q["baseline"], 1), **run)
    emit(f"peak_rss_lora_mb{suffix}", lo["peak"], "MiB", baseline_after_imports=round(lo["baseline"], 1), **run)
    emit(f"qlora_vs_lora_rss_ratio{suffix}", q["peak"] / lo["peak"], "x", goal="<= 0.4", **run)
    emit(
        f"qlora_vs_lora_rss_ratio_above_imports{suffix}",
        (q["peak"] - q["baseline"]) / (lo["peak"] - lo["baseline"]),
        "x",
        goal="<= 0.4",
        **run,
    )
    emit(f"qlora_tokens_per_s{suffix}", q["tokens_per_s"], "tokens/s", **run)


def scoring_figures(path: Path, args: argparse.Namespace, size: str) -> None:
    """(e) per-example scoring cost and planted-noise recall."""
    from training.engine import JobSpec, run_job, toy_conversations
    from training.engine.control_set import control_conversations
    from training.engine.scoring import cpu_has_native_bf16
    from training.engine.tiny import build_tiny_model, planted_noise_conversations, pretrain_tiny_model

    data = toy_conversations(256)
    for packing in (False, True):
        out = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
        try:
            config = engine_config(args, max_steps=-1, epochs=1, packing=packing)
            spec = JobSpec(
                base_model_path=str(path),
                train_examples=data,
                validation_examples=toy_conversations(26, seed=99),
                output_dir=str(out),
                config=config,
                n_samples=0,
            )
            m = run_job(spec).metrics
        finally:
            shutil.rmtree(out, ignore_errors=True)
        emit(
            "scoring_time_ratio" + ("_packed" if packing else ""),
            m["scoring_seconds"] / m["train_runtime_seconds"],
            "x",
            goal="<= 0.35",
            size=size,
            examples=len(data) + 26,
            scoring_seconds=round(m["scoring_seconds"], 2),
            train_seconds=round(m["train_runtime_seconds"], 2),
            forgetting_seconds=round(m["forgetting_seconds"], 2),
            steps=m["global_step"],
        )
        emit(
            "forgetting_seconds" + ("_packed" if packing else ""),
            m["forgetting_seconds"],
            "s",
            size=size,
            vs_training=round(m["forgetting_seconds"] / m["train_runtime_seconds"], 3),
            bf16=cpu_has_native_bf16(),
        )

    small = Path(args.model_dir) / "llama-small-general"
    if not (small / "config.json").is_file():
        build_tiny_model(small, arch="llama", size="small")
        pretrain_tiny_model(small, control_conversations(), steps=300)
    noisy, noise_at = planted_noise_conversations(60)
    out = Path(tempfile.mkdtemp(prefix="bench-noise-"))
    try:
        spec = JobSpec(
            base_model_path=str(small),
            train_examples=noisy,
            validation_examples=toy_conversations(8, seed=99),
            output_dir=str(out),
            config={
                **engine_config(args, max_steps=30, batch_size=8, max_seq_length=96),
                "learning_rate": 1e-2,
                "target_modules": "all-linear",
            },
            n_samples=0,
            max_new_tokens=8,
        )
        scores = run_job(spec).example_scores
    finally:
        shutil.rmtree(out, ignore_errors=True)
    train = sorted((s for s in scores if s["source"] == "train"), key=lambda s: -(s["adapter_loss"] or 0))
    top = {s["index"] for s in train[:10]}
    emit("planted_noise_recall_at_10", len(top & set(noise_at)) / len(noise_at), "fraction", planted=len(noise_at),
         examples=len(noisy), model="small (general pretraining)", steps=30)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="size 'small' (~4M params) instead of 'bench' (~100M)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps figures stable on a shared CPU)")
    parser.add_argument("--rss-steps", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true", help="no (c) on the ~0.75B model (builds 1.5 GB)")
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "annotune-bench-models"))
    parser.add_argument("--scoring-only", action="store_true", help="only (e): per-example scoring figures")
    parser.add_argument("--rss-child", choices=["qlora", "lora"], help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    parser.add_argument("--quantized-cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.model_path, args.rss_child, args.steps, args.batch, args.seq, args.threads, args.quantized_cache)
        return
    args.steps = args.steps or (12 if args.quick else 6)
    import torch

    torch.set_num_threads(args.threads)
    size = "small" if args.quick else "bench"

    from training.engine import estimate_memory, llama3_8b_config, toy_conversations

    # (d) first: it needs no training.
    est = estimate_memory(llama3_8b_config(), method="qlora", rank=16, target_modules="attention")
    emit("llama3_8b_adapter_bytes", est.adapter_file_bytes / 2**20, "MiB")
    emit("llama3_8b_base_checkpoint_bytes", est.base_checkpoint_bytes / 2**30, "GiB", dtype="bfloat16")
    emit("llama3_8b_adapter_vs_base", est.adapter_to_base_ratio * 100, "%", goal="< 0.5")

    path = ensure_model(Path(args.model_dir), size)
    started = time.perf_counter()
    if args.scoring_only:
        scoring_figures(path, args, size)
        emit("bench_wall_seconds", time.perf_counter() - started, "s")
        return

    # (a) engine vs bare loop.
    data = toy_conversations(256)
    config = engine_config(args)
    engine, manual = [], []
    for _ in range(args.repeats):
        manual.append(run_manual(path, data, config))
        m = run_engine(path, data, config)
        engine.append((m["tokens_per_second"], m["cpu_tokens_per_s"]))
    best_m, best_e = [max(r[i] for r in manual) for i in (0, 1)], [max(r[i] for r in engine) for i in (0, 1)]
    emit("manual_tokens_per_s", best_m[0], "tokens/s", runs=[round(r[0], 1) for r in manual])
    emit("engine_tokens_per_s", best_e[0], "tokens/s", runs=[round(r[0], 1) for r in engine])
    emit("engine_vs_manual_ratio_wall", best_e[0] / best_m[0], "x", goal=">= 0.95")
    emit("manual_tokens_per_cpu_s", best_m[1], "tokens/cpu-s", runs=[round(r[1], 1) for r in manual])
    emit("engine_tokens_per_cpu_s", best_e[1], "tokens/cpu-s", runs=[round(r[1], 1) for r in engine])
    emit("engine_vs_manual_ratio", best_e[1] / best_m[1], "x", goal=">= 0.95", basis="cpu time")

    # (b) packing vs padding on answers of varied length.
    varied = toy_conversations(256, varied=True)
    pad_cfg = engine_config(args, max_seq_length=args.seq * 2)
    from training.engine.data import build_features
    from training.engine.model import load_tokenizer

    lengths = [len(f["input_ids"]) for f in build_features(load_tokenizer(path), varied, args.seq * 2)[0]]
    emit("varied_example_tokens_mean", sum(lengths) / len(lengths), "tokens", min=min(lengths), max=max(lengths))
    runs = {False: [], True: []}
    for _ in range(args.repeats):
        for packing in (False, True):
            m = run_engine(path, varied, {**pad_cfg, "packing": packing})
            runs[packing].append((m["tokens_per_second"], m["cpu_tokens_per_s"]))
    padded, packed = [max(r[i] for r in runs[False]) for i in (0, 1)], [max(r[i] for r in runs[True]) for i in (0, 1)]
    emit("padded_useful_tokens_per_s", padded[0], "tokens/s", per_cpu_s=round(padded[1], 1))
    emit("packed_useful_tokens_per_s", packed[0], "tokens/s", per_cpu_s=round(packed[1], 1))
    emit("packing_speedup_wall", packed[0] / padded[0], "x", goal=">= 1.3")
    emit("packing_speedup", packed[1] / padded[1], "x", goal=">= 1.3", basis="cpu time")

    # (c) peak RSS, one process per method: on the bench model, where the ~0.4 GiB of libraries both
    # processes import weigh as much as the model, and on a ~0.75B model, where the weights dominate
    # as they do for real base models.
    compare_rss(path, args, size, args.batch)
    if not args.quick and not args.skip_large:
        compare_rss(ensure_model(Path(args.model_dir), "large"), args, "large", batch=1)
    scoring_figures(path, args, size)
    emit("bench_wall_seconds", time.perf_counter() - started, "s")


if __name__ == "__main__":
    main()
