"""The curation benchmark: does annotation quality decide what a LoRA adapter learns? Measured on a real model.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_curation.py [--seeds N] [--quick]
        [--model PATH] [--preset NAME] [--review-top K]

One clean set of support conversations and one held-out set (benchmarks/curation_data.py, generated in
code). For every seed, fresh LoRA adapters are trained with the engine (`run_job`, the platform's preset
read by name at run time, the method the platform picks on a CPU), and each answers the held-out prompts
greedily (one batch, the engine's loading and generation helpers; the base's answers once, as the reference).
Four effects, each clean vs degraded:

1. formatting_noise: one formatting defect in 30 % of the training examples (doubled spaces, `*` bullets,
   a `##` heading, an unclosed `[` or `<b>`, steps run into one line). Figure: the share of held-out answers
   that carry a defect of those kinds, found by the platform's formatting check (validators/formatting.py),
   noisy vs clean; beside it the share in the house format (curation_data.house_format_ok).
2. contradicted_facts: the fact's outdated value in 30 % of the knowledge-base examples. Figure: fact
   accuracy on the 12 knowledge-base questions (the knowledge base's value in the answer, not the outdated
   one), and the share the platform's fact check (validators/factcheck.py) finds contradicted.
   Effects 1 and 2 are read from the same adapters: the noisy set carries both kinds of noise, drawn
   independently, as a real dataset would (and the loop below fixes both at once).
3. unbalanced_set: the same number of examples, 80 % from the billing category. Figure: the engine's
   forgetting ratio (control-set perplexity adapter ÷ base, JobResult.forgetting), unbalanced vs balanced
   (the clean set).
4. loop: the noisy set passed through Annotune's per-example checks (every formatting finding and
   contradicted facts, against the knowledge base) and the top `--review-top` of "What training found"
   (training examples by adapter loss, highest first, from the noisy run's `example_scores`); the flagged
   examples are replaced by their clean versions, as a reviewer would fix them, and the adapter retrained.
   Figures: recall and precision of the flags, the reviewed set's defect rate and fact accuracy, and the
   share of each gap (1 and 2) it closes: (noisy − reviewed) ÷ (noisy − clean).

Every figure is printed as a JSON line {"metric", "value", "unit", "effect", ...}: value is the mean over
seeds, `spread` the sample standard deviation (null with one seed), `per_seed` the values. A gap of less
than one answer (or none) is not divided (`gap_closed` null, with a note). The base model's own
answers are printed as the reference; `elapsed_seconds` last. Progress goes to stderr.

`--quick` runs the same pipeline on a tiny random-weight model (for the test; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads: 2 shared cores here

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))

import curation_data as data  # noqa: E402

DEFAULT_PRESET = "balanced"  # the launch form's default (training/services/jobs.py DEFAULT_PRESET)
CPU_METHOD = "lora"  # what the platform picks on a CPU when the preset names none (launch_plan.METHOD_BY_DEVICE)
# The formatting check's code for each injected defect; "run_on_steps" has none (only the house format
# check sees it), so it is left to the loss ranking in the loop.
DEFECT_CODES = {
    "double_space": "fmt.double_space",
    "list_marker": "fmt.list_style",
    "heading": "fmt.heading_style",
    "bracket": "fmt.unbalanced_brackets",
    "tag": "fmt.unbalanced_tag",
}
FLAG_CODES_PREFIX = "fmt."  # a reviewer acts on every formatting finding ...
FLAG_FACT_CODE = "fact.contradicted"  # ... and on contradicted facts
NO_GAP = "the noisy set was not worse by one answer or more: no gap to close"


def log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.0f} s] {message}", file=sys.stderr, flush=True)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def emit(metric: str, value: float | None, unit: str, **extra: Any) -> None:
    print(json.dumps({"metric": metric, "value": _round(value), "unit": unit, **_round(extra)}), flush=True)


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def spread(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def emit_across(metric: str, per_seed: list[float], unit: str, **extra: Any) -> None:
    emit(metric, mean(per_seed), unit, spread=spread(per_seed), per_seed=per_seed, **extra)


# -- the model and the configuration ---------------------------------------------------------------------


def default_model_folder() -> Path:
    """The platform's default base model folder (annotune/settings.py TRAINING_DEFAULT_MODEL_DIR, read from
    the same environment without Django), converted once from its package if it is not there yet."""
    from training.engine.default_model import DEFAULT_MODEL_NAME, ensure_default_model_folder

    models = Path(os.environ.get("ANNOTUNE_MODELS_DIR") or Path(os.environ.get("ANNOTUNE_VAR_DIR") or ROOT / "var")
                  / "models")  # fmt: skip
    target = Path(os.environ.get("ANNOTUNE_DEFAULT_MODEL_DIR") or models / DEFAULT_MODEL_NAME)
    return ensure_default_model_folder(target)


def tiny_model(folder: Path) -> Path:
    from training.engine.tiny import build_tiny_model

    build_tiny_model(folder, arch="llama", size="test")
    return folder


def train_config(preset_name: str, seed: int) -> dict[str, Any]:
    """The preset as the platform resolves it for a CPU worker, with this run's seed."""
    from training.engine.config import PRESETS, preset

    config = preset(preset_name)
    if "method" not in PRESETS[preset_name]:
        config["method"] = CPU_METHOD
    config.update(seed=seed, device="cpu", save_steps=1_000_000)
    return config


# -- one training run and its answers ---------------------------------------------------------------------


@dataclass
class Run:
    name: str
    answers: list[str]  # the adapter's greedy answers to the held-out prompts, in held-out order
    base_answers: list[str] | None  # the base's (asked for once: they do not change)
    forgetting_ratio: float | None
    example_scores: list[dict[str, Any]]
    train_seconds: float | None
    steps: int | None
    other_seconds: dict[str, float]


def train(
    name: str,
    model: Path,
    examples: list[data.Example],
    held_out: list[data.HeldOut],
    config: dict[str, Any],
    work: Path,
    *,
    score: bool,
    max_new_tokens: int,
    with_base: bool = False,
) -> Run:
    """One fresh adapter: `run_job` on the examples (validation loss on the held-out set), then its greedy
    answers to the held-out prompts (and the base's, `with_base`)."""
    from training.engine import JobSpec, run_job

    out = work / name
    spec = JobSpec(
        base_model_path=str(model),
        train_examples=[ex.messages for ex in examples],
        validation_examples=[h.conversation for h in held_out],
        output_dir=str(out),
        config=config,
        n_samples=0,
        score_examples=score,  # per-example loss and the forgetting check
        behaviour=False,  # the held-out answers are generated below (the base's only once)
    )

    def progress(event: dict[str, Any]) -> None:
        if event["event"] in ("log", "end"):
            loss = f", loss {event['loss']:.3f}" if event.get("loss") is not None else ""
            print(f"    {name}: step {event['step']} of {event['max_steps']}{loss}, "
                  f"{event.get('tokens_per_second') or 0:.0f} tokens/s", file=sys.stderr, flush=True)  # fmt: skip

    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the figures
        result = run_job(spec, progress)
        if result.adapter_dir is None:
            raise RuntimeError(f"{name}: the job saved no adapter")
        started = time.perf_counter()
        answers, base_answers = generate(model, config, Path(result.adapter_dir), held_out, max_new_tokens, with_base)
        generation_seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    forgetting = result.forgetting or {}
    other = {k: float(result.metrics.get(k) or 0.0) for k in ("scoring_seconds", "forgetting_seconds")}
    return Run(
        name=name,
        answers=answers,
        base_answers=base_answers,
        forgetting_ratio=forgetting.get("control_ratio"),
        example_scores=[dict(s) for s in result.example_scores],
        train_seconds=result.metrics.get("train_runtime_seconds"),
        other_seconds={**other, "generation_seconds": generation_seconds},
        steps=result.metrics.get("global_step"),
    )


def generate(
    model_path: Path,
    config: dict[str, Any],
    adapter_dir: Path,
    held_out: list[data.HeldOut],
    max_new_tokens: int,
    with_base: bool,
) -> tuple[list[str], list[str] | None]:
    """Greedy answers to the held-out prompts in one batch, with the engine's helpers: the adapter on the base
    as the engine evaluates it (same precision, bfloat16 autocast where the CPU has it), and the base alone
    (the adapter disabled) when asked."""
    from training.engine.config import validate_config
    from training.engine.evaluate import base_mode, generate_batch
    from training.engine.model import load_for_evaluation, load_tokenizer, set_cpu_packed_inference
    from training.engine.scoring import inference_autocast

    cfg, errors = validate_config(config)
    if cfg is None:
        raise RuntimeError(f"invalid configuration: {errors}")
    tokenizer = load_tokenizer(model_path)
    model = load_for_evaluation(model_path, cfg, adapter_dir)
    set_cpu_packed_inference(model, True)  # no training follows
    prompts = [h.prompt for h in held_out]
    answers = generate_batch(model, tokenizer, prompts, max_new_tokens, inference_autocast(model))
    base = None
    if with_base:
        with base_mode(model):
            base = generate_batch(model, tokenizer, prompts, max_new_tokens, inference_autocast(model))
    return answers, base


# -- judging answers with the platform's checks -------------------------------------------------------------


@dataclass
class Judge:
    """The project's checks, built once: formatting (with the house list marker and heading style) and the
    fact check against the knowledge base."""

    spec: Any = None

    def __post_init__(self) -> None:
        from validators import KnowledgeBase, ProjectSpec

        kb = KnowledgeBase.build(data.knowledge_base_documents(), facts=data.knowledge_base_facts())
        self.spec = ProjectSpec(list_marker=data.LIST_MARKER, heading_style=data.HEADING_STYLE, knowledge_base=kb)

    def findings(self, messages: list[dict[str, str]]) -> list[Any]:
        from validators import validate_example

        return validate_example({"messages": messages}, self.spec, checks=["formatting"], fact_check=True)

    def codes_in_answer(self, prompt: list[dict[str, str]], answer: str) -> set[str]:
        """Codes found in the answer (the last message) of prompt + answer."""
        messages = [*prompt, {"role": "assistant", "content": answer}]
        last = len(messages) - 1
        return {f.code for f in self.findings(messages) if f.location is not None and f.location.message == last}

    def flags(self, example: data.Example) -> bool:
        """Whether the per-example checks send this training example to a reviewer."""
        return any(
            f.code.startswith(FLAG_CODES_PREFIX) or f.code == FLAG_FACT_CODE for f in self.findings(example.messages)
        )


@dataclass
class Scores:
    defect_rate: float
    house_format_rate: float
    fact_accuracy: float
    outdated_rate: float
    contradicted_rate: float
    by_code: dict[str, int] = field(default_factory=dict)


def score_answers(judge: Judge, held_out: list[data.HeldOut], answers: list[str]) -> Scores:
    defect_codes = set(DEFECT_CODES.values())
    defects = house = 0
    by_code: dict[str, int] = {}
    correct = outdated = contradicted = facts = 0
    for item, answer in zip(held_out, answers, strict=True):
        codes = judge.codes_in_answer(item.prompt, answer)
        found = codes & defect_codes
        defects += bool(found)
        for code in found:
            by_code[code] = by_code.get(code, 0) + 1
        house += data.house_format_ok(answer, item.category)
        if item.fact:
            facts += 1
            outcome = data.fact_outcome(answer, item.fact)
            correct += outcome == "correct"
            outdated += outcome == "outdated"
            contradicted += FLAG_FACT_CODE in codes
    n = len(answers)
    return Scores(defects / n, house / n, correct / facts, outdated / facts, contradicted / facts, by_code)


# -- the loop -------------------------------------------------------------------------------------------------


@dataclass
class Review:
    by_checks: set[int]
    by_loss: set[int]

    @property
    def flagged(self) -> set[int]:
        return self.by_checks | self.by_loss


def review(judge: Judge, noisy: list[data.Example], scores: list[dict[str, Any]], top: int) -> Review:
    """What a reviewer is sent: examples with a finding of the per-example checks, and the top `top`
    training examples of "What training found" (highest adapter loss first)."""
    by_checks = {i for i, ex in enumerate(noisy) if judge.flags(ex)}
    train_scores = [s for s in scores if s["source"] == "train" and s["adapter_loss"] is not None]
    ranked = sorted(train_scores, key=lambda s: (-s["adapter_loss"], s["index"]))
    return Review(by_checks, {int(s["index"]) for s in ranked[:top]})


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def gap_closed(clean: float, noisy: float, reviewed: float, answers: int) -> float | None:
    """(noisy − reviewed) ÷ (noisy − clean), for figures where lower is better; None when the noisy set is not
    worse than the clean one by at least one answer (nothing to close)."""
    gap = noisy - clean
    if gap * answers < 1 - 1e-9:
        return None
    return (noisy - reviewed) / gap


# -- main ---------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds (fresh adapters for every set), default 2")
    parser.add_argument("--quick", action="store_true", help="a tiny random-weight model (figures mean nothing)")
    parser.add_argument("--model", type=Path, help="base model folder (default: the platform's default base model)")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help=f"training preset by name (default {DEFAULT_PRESET})")
    parser.add_argument("--review-top", type=int, default=10, help="'What training found' entries a reviewer reads")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: 2 shared cores here)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    from training.engine.config import PRESETS

    if args.preset not in PRESETS:
        raise SystemExit(f"Unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")

    with tempfile.TemporaryDirectory(prefix="bench-curation-") as tmp:
        work = Path(tmp)
        if args.model is not None:
            model = args.model
        elif args.quick:
            model = tiny_model(work / "tiny-llama")
        else:
            model = default_model_folder()
        log(f"base model {model}; preset {args.preset}; {args.seeds} seed(s)", started)
        report(args, model, work, started)
    emit("elapsed_seconds", time.perf_counter() - started, "s", effect="run")


def max_new_tokens_for(model: Path, held_out: list[data.HeldOut], quick: bool) -> int:
    """Room for the longest reference answer and a margin (a cut answer would carry a cut tag line)."""
    if quick:
        return 24
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    longest = max(len(tokenizer(h.reference, add_special_tokens=False)["input_ids"]) for h in held_out)
    return int(longest * 1.5) + 16


def report(args: argparse.Namespace, model: Path, work: Path, started: float) -> None:
    judge = Judge()
    held_out = data.held_out_set()
    clean = data.clean_set()
    n_answers = len(held_out)
    n_facts = sum(1 for h in held_out if h.fact)
    new_tokens = max_new_tokens_for(model, held_out, args.quick)
    per: dict[str, list[Any]] = {}

    def keep(key: str, value: Any) -> None:
        per.setdefault(key, []).append(value)

    base_scores: Scores | None = None
    config_used: dict[str, Any] = {}
    for seed in range(args.seeds):
        config_used = train_config(args.preset, seed)

        def fit(
            name: str, examples: list[data.Example], *, score: bool, with_base: bool = False, seed: int = seed
        ) -> Run:
            log(f"seed {seed}: training on the {name} set ({len(examples)} examples)", started)
            run = train(f"{name}-{seed}", model, examples, held_out, train_config(args.preset, seed), work,
                        score=score, max_new_tokens=new_tokens, with_base=with_base)  # fmt: skip
            more = "".join(f", {v:.0f} s {k.replace('_seconds', '')}" for k, v in run.other_seconds.items() if v)
            log(f"seed {seed}: {name} done ({run.steps} steps, {run.train_seconds or 0:.0f} s of training{more})",
                started)  # fmt: skip
            keep(f"train_seconds_{name}", run.train_seconds or 0.0)
            return run

        noisy = data.noisy_set(seed)
        runs = {"clean": fit("clean", clean, score=True, with_base=base_scores is None)}
        if base_scores is None and runs["clean"].base_answers is not None:
            base_scores = score_answers(judge, held_out, runs["clean"].base_answers)
        runs["noisy"] = fit("noisy", noisy, score=True)
        runs["unbalanced"] = fit("unbalanced", data.unbalanced_set(seed), score=True)
        found = review(judge, noisy, runs["noisy"].example_scores, args.review_top)
        runs["reviewed"] = fit("reviewed", data.reviewed_set(noisy, found.flagged), score=False)

        scores = {name: score_answers(judge, held_out, run.answers) for name, run in runs.items()}
        for name, s in scores.items():
            keep(f"defect_rate_{name}", s.defect_rate)
            keep(f"house_format_rate_{name}", s.house_format_rate)
            keep(f"fact_accuracy_{name}", s.fact_accuracy)
            keep(f"outdated_rate_{name}", s.outdated_rate)
            keep(f"contradicted_rate_{name}", s.contradicted_rate)
            keep(f"defects_by_code_{name}", s.by_code)
        for name in ("clean", "unbalanced"):
            keep(f"forgetting_ratio_{name}", runs[name].forgetting_ratio)

        corrupted = {i for i, ex in enumerate(noisy) if ex.corrupted}
        formatted = {i for i, ex in enumerate(noisy) if ex.defects}
        contradicted = {i for i, ex in enumerate(noisy) if ex.contradicted}
        keep("flagged", len(found.flagged))
        keep("flagged_by_checks", len(found.by_checks))
        keep("flagged_by_loss", len(found.by_loss))
        keep("corrupted", len(corrupted))
        keep("flag_recall", share(len(found.flagged & corrupted), len(corrupted)))
        keep("flag_precision", share(len(found.flagged & corrupted), len(found.flagged)))
        keep("loss_recall", share(len(found.by_loss & corrupted), len(corrupted)))
        keep("loss_precision", share(len(found.by_loss & corrupted), len(found.by_loss)))
        keep("recall_formatting", share(len(found.flagged & formatted), len(formatted)))
        keep("recall_facts", share(len(found.flagged & contradicted), len(contradicted)))
        missed = corrupted - found.flagged
        keep("missed", len(missed))
        kinds = {d for i in missed for d in noisy[i].defects}
        keep("missed_kinds", sorted(kinds | ({"contradicted"} if missed & contradicted else set())))
        s = scores
        keep("gap_closed_format", gap_closed(s["clean"].defect_rate, s["noisy"].defect_rate,
                                             s["reviewed"].defect_rate, n_answers))  # fmt: skip
        keep("gap_closed_facts", gap_closed(-s["clean"].fact_accuracy, -s["noisy"].fact_accuracy,
                                            -s["reviewed"].fact_accuracy, n_facts))  # fmt: skip
        rates = ", ".join(
            f"{k} {v.defect_rate:.2f}/{v.house_format_rate:.2f}/{v.fact_accuracy:.2f}" for k, v in s.items()
        )
        log(
            f"seed {seed}: {rates} (defect rate / house format / fact accuracy); forgetting ratio balanced "
            f"{runs['clean'].forgetting_ratio}, unbalanced {runs['unbalanced'].forgetting_ratio}; flagged "
            f"{len(found.flagged)} ({len(found.flagged & corrupted)} of {len(corrupted)} corrupted)",
            started,
        )

    emit_all(per, base_scores, config_used, args, model, n_answers, n_facts)


def emit_all(
    per: dict[str, list[Any]],
    base: Scores | None,
    config: dict[str, Any],
    args: argparse.Namespace,
    model: Path,
    n_answers: int,
    n_facts: int,
) -> None:
    emit("training_setup", float(args.seeds), "seeds", effect="run", model=str(model.name), quick=args.quick,
         preset=args.preset, method=config.get("method"), learning_rate=config.get("learning_rate"),
         epochs=config.get("epochs"), rank=config.get("rank"), held_out_answers=n_answers,
         knowledge_base_questions=n_facts, train_seconds_per_run=mean(per["train_seconds_clean"]))  # fmt: skip
    if base is not None:
        emit("format_defect_rate", base.defect_rate, "share", effect="reference", condition="base model")
        emit("house_format_rate", base.house_format_rate, "share", effect="reference", condition="base model")
        emit("fact_accuracy", base.fact_accuracy, "share", effect="reference", condition="base model")

    # 1. formatting noise
    fx = {"effect": "formatting_noise", "answers": n_answers}
    for name in ("clean", "noisy"):
        emit_across("format_defect_rate", per[f"defect_rate_{name}"], "share", condition=name,
                    by_code=per[f"defects_by_code_{name}"], **fx)  # fmt: skip
    emit_across("format_defect_rate_gap", _diff(per["defect_rate_noisy"], per["defect_rate_clean"]), "share",
                condition="noisy - clean", **fx)  # fmt: skip
    for name in ("clean", "noisy"):
        emit_across("house_format_rate", per[f"house_format_rate_{name}"], "share", condition=name, **fx)

    # 2. contradicted facts
    fx = {"effect": "contradicted_facts", "answers": n_facts}
    for name in ("clean", "noisy"):
        emit_across("fact_accuracy", per[f"fact_accuracy_{name}"], "share", condition=name, **fx)
    emit_across("fact_accuracy_gap", _diff(per["fact_accuracy_clean"], per["fact_accuracy_noisy"]), "share",
                condition="clean - noisy", **fx)  # fmt: skip
    for name in ("clean", "noisy"):
        emit_across("outdated_fact_rate", per[f"outdated_rate_{name}"], "share", condition=name, **fx)
        emit_across("fact_check_contradicted_rate", per[f"contradicted_rate_{name}"], "share", condition=name, **fx)

    # 3. unbalanced set
    fx = {"effect": "unbalanced_set", "control": "built-in control set"}
    balanced = [r for r in per["forgetting_ratio_clean"] if r is not None]
    unbalanced = [r for r in per["forgetting_ratio_unbalanced"] if r is not None]
    emit_across("forgetting_ratio", balanced, "ratio", condition="balanced", **fx)
    emit_across("forgetting_ratio", unbalanced, "ratio", condition="unbalanced", **fx)
    emit_across("forgetting_ratio_gap", _diff(unbalanced, balanced), "ratio", condition="unbalanced - balanced", **fx)

    # 4. the loop
    fx = {"effect": "loop", "review_top": args.review_top}
    emit_across("flagged_examples", per["flagged"], "examples", by_checks=per["flagged_by_checks"],
                by_loss_ranking=per["flagged_by_loss"], corrupted=per["corrupted"], **fx)  # fmt: skip
    for metric in ("flag_recall", "flag_precision", "loss_recall", "loss_precision", "recall_formatting",
                   "recall_facts"):  # fmt: skip
        emit_across(metric, [v for v in per[metric] if v is not None], "share", **fx)
    emit_across("missed_examples", per["missed"], "examples", kinds=per["missed_kinds"], **fx)
    emit_across("format_defect_rate", per["defect_rate_reviewed"], "share", condition="reviewed", **fx)
    emit_across("fact_accuracy", per["fact_accuracy_reviewed"], "share", condition="reviewed", **fx)
    for metric, key, clean_key, noisy_key, n, sign in (
        ("gap_closed_format", "gap_closed_format", "defect_rate_clean", "defect_rate_noisy", n_answers, 1),
        ("gap_closed_facts", "gap_closed_facts", "fact_accuracy_clean", "fact_accuracy_noisy", n_facts, -1),
    ):
        reviewed_key = clean_key.replace("clean", "reviewed")
        pooled = gap_closed(sign * mean(per[clean_key]), sign * mean(per[noisy_key]),  # type: ignore[operator]
                            sign * mean(per[reviewed_key]), n)  # type: ignore[operator]  # fmt: skip
        defined = [v for v in per[key] if v is not None]
        note = {} if pooled is not None else {"note": NO_GAP}
        emit(metric, pooled, "share of the gap", spread=spread(defined), per_seed=per[key], **note, **fx)


def _diff(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]


if __name__ == "__main__":
    main()
