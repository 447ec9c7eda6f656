"""Training throughput and device memory by method and process count (one process, or several under
`accelerate launch`), on the CUDA devices where there are some, else on the CPU (gloo).

    python benchmarks/bench_distributed.py [--size bench] [--methods qlora,lora] [--processes 1,2]
                                           [--distributed ddp|fsdp] [--steps 30] [--batch-size 4] [--seq 256]

Builds a tiny Llama offline (training/engine/tiny.py) and trains it with the engine exactly as a worker
does (training/processes/runner.py for one process, training/processes/launcher.py for several).
Prints JSON lines per run: train_tokens_per_s (the engine's own figure: non-padding tokens per second of
training, all processes together), train_wall_s (the whole job: start-up, training, evaluation),
peak_gpu_mib (the highest memory in use on any one GPU while the job ran, from nvidia-smi; absent
without GPUs), and with two process counts the speed-up of the most processes over one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, emit

sys.path.insert(0, str(ROOT))


def gpu_memory_used() -> list[int]:
    """MiB in use on each GPU (empty without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(line) for line in out.stdout.split() if line.strip().isdigit()]


class PeakGpuMemory:
    """Samples nvidia-smi every 0.2 s while the block runs; `peak` is the highest per-GPU figure above
    what was in use before (other processes' memory is not counted)."""

    def __init__(self) -> None:
        self.base = gpu_memory_used()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for before, now in zip(self.base, gpu_memory_used(), strict=False):
                self.peak = max(self.peak, now - before)

    def __enter__(self) -> PeakGpuMemory:
        if self.base:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def run(model: Path, data: Path, work: Path, *, method: str, processes: int, distributed: str, args) -> dict:
    from training.processes import launcher, runner

    config = {
        "method": method,
        "max_steps": args.steps,
        "batch_size": args.batch_size,
        "max_seq_length": args.seq,
        "logging_steps": 5,
        "save_steps": 10**6,
        "warmup_ratio": 0.0,
        "rank": 16,
        "alpha": 32,
        "num_processes": processes,
        "distributed": distributed if processes > 1 else "ddp",
        "packing": True,
    }
    name = f"{method}-{processes}-{distributed}"
    spec = {
        "base_model_path": str(model),
        "train_examples": str(data),
        "output_dir": str(work / name),
        "config": config,
        "score_examples": False,
        "n_samples": 1,
        "max_new_tokens": 8,
    }
    started = time.perf_counter()
    with PeakGpuMemory() as memory:
        if processes == 1:
            outcome = runner.run_in_child(spec)
        else:
            outcome = launcher.run_launched(spec, num_processes=processes, run_dir=work / f"{name}-run")
    wall = time.perf_counter() - started
    if outcome.status != runner.SUCCEEDED:
        raise SystemExit(f"{name}: {outcome.status} {outcome.error} (exit code {outcome.exitcode})")
    metrics = outcome.result["metrics"]
    common = {"method": method, "processes": processes, "distributed": config["distributed"], "size": args.size}
    emit("train_tokens_per_s", metrics["tokens_per_second"], "tokens/s", **common)
    emit("train_wall_s", wall, "s", **common)
    if memory.base:
        emit("peak_gpu_mib", memory.peak, "MiB", **common)
    return {"tokens_per_second": metrics["tokens_per_second"], "peak": memory.peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="bench", choices=["test", "small", "bench", "large"])
    parser.add_argument("--methods", default="qlora,lora")
    parser.add_argument("--processes", default="1")
    parser.add_argument("--distributed", default="ddp", choices=["ddp", "fsdp"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--examples", type=int, default=400)
    args = parser.parse_args()

    from training.engine.tiny import build_tiny_model, toy_conversations

    work = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    try:
        model = work / "model"
        build_tiny_model(model, arch="llama", size=args.size)
        data = work / "train.jsonl"
        lines = (json.dumps({"messages": c}) for c in toy_conversations(args.examples))
        data.write_text("\n".join(lines), encoding="utf-8")
        counts = sorted({int(n) for n in args.processes.split(",")})
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            figures = {n: run(model, data, work, method=method, processes=n, distributed=args.distributed, args=args)
                       for n in counts}  # fmt: skip
            if len(counts) > 1 and figures[counts[0]]["tokens_per_second"]:
                speedup = figures[counts[-1]]["tokens_per_second"] / figures[counts[0]]["tokens_per_second"]
                emit("speedup", speedup, "x", method=method, processes=f"{counts[-1]} vs {counts[0]}", size=args.size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
