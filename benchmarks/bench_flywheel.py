"""The drafting flywheel on the default model: does an adapter trained on corrected drafts write drafts that
need less correcting, and does DPO on the corrections make it prefer the corrected answers?

    .venv/bin/python benchmarks/bench_flywheel.py               # the demo project's data, default preset
    .venv/bin/python benchmarks/bench_flywheel.py --limit 12    # fewer prompts per round (a quick look)

The loop a team lives, on the demo's conversations (their approved answers are the references):

- round 0: the base model drafts the answer to each prompt of round 0 with the editor's decoding
  (`annotation.services.drafts.DRAFT_PARAMS`, greedy) through the inference worker's model cache; the
  "annotator" replaces each draft with the reference answer and approves it;
- SFT: the one-click preset trains an adapter on round 0's approved conversations;
- round 1: that adapter drafts answers to new prompts (the other conversations); the base drafts the same
  prompts too, the control: what round 1 would have cost without the adapter;
- DPO: every corrected draft is a pair (chosen = the approved answer, rejected = the draft), as approval
  records it; a DPO job starts from the SFT adapter and trains on round 0's pairs and half of round 1's;
  preference accuracy (the model finds the chosen answer more likely per token) is measured on the other
  half, held out, before and after.

Per drafter it prints the median normalised edit distance from draft to approved answer (Levenshtein on
characters over the longer text, the dashboard's figure), the share approved unchanged (the approval's rule:
line endings and surrounding space aside) and the share in the house style. One torch thread (a 2-core
host's worker). No database: the engine, the model cache and the product's own measures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def emit(metric: str, value, unit: str, **extra) -> None:
    print(json.dumps({"metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def setup_django() -> None:
    """Settings only (the decoding and the approval's text rule live in Django apps); no database is opened."""
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DATABASE_URL", "sqlite:///" + str(Path(tempfile.gettempdir()) / "bench_flywheel.sqlite3"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotune.settings")
    import django

    django.setup()


def rounds(round1_share: float) -> tuple[list[list[dict]], list[list[dict]]]:
    """The demo's approved conversations without its planted defects, split per category (deterministic):
    round 0's and round 1's. Each conversation's last assistant turn is the answer drafted and approved."""
    from annotune.demo_data import APPROVED, DEFECT_PROMPTS, SYSTEM_PROMPT

    by_category: dict[str, list[list[dict]]] = {}
    for category, _tags, turns in APPROVED:
        if any(turn in DEFECT_PROMPTS for turn in turns):
            continue
        messages = [{"role": "system", "content": SYSTEM_PROMPT}] + [
            {"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(turns)
        ]
        by_category.setdefault(category, []).append(messages)
    first, second = [], []
    for items in by_category.values():
        items.sort(key=lambda m: hashlib.sha256(json.dumps(m).encode()).hexdigest())
        n_second = int(len(items) * round1_share + 0.5)
        second += items[:n_second]
        first += items[n_second:]
    return first, second


def draft_all(cache, model_dir: Path, conversations, params: dict, adapter: Path | None) -> tuple[list[str], float]:
    """Each conversation's last answer drafted from the turns before it; the drafts and the seconds taken."""
    started = time.perf_counter()
    drafts = []
    for messages in conversations:
        result = cache.generate(
            str(model_dir),
            messages[:-1],
            adapter_name="flywheel" if adapter else None,
            adapter_path=str(adapter) if adapter else None,
            **params,
        )
        drafts.append(result.text)
    return drafts, time.perf_counter() - started


def judge(label: str, drafts: list[str], conversations, *, prompts: int) -> list[dict]:
    """Print the round's figures; the preference pairs its corrections make (edited drafts only)."""
    from annotation.selectors.drafts import plain
    from annotune.demo_data import STYLE_RULES
    from validators.edit_distance import normalised_distance
    from validators.style import StyleRules, follows_style

    rules = StyleRules.from_dict(STYLE_RULES)
    distances, unchanged, styled, pairs = [], 0, 0, []
    for draft, messages in zip(drafts, conversations, strict=True):
        approved, rejected = plain(messages[-1]["content"]), plain(draft)
        same = approved == rejected
        unchanged += same
        styled += follows_style(draft, rules)
        distances.append(0.0 if same else normalised_distance(rejected, approved))
        if not same and rejected.strip():
            pairs.append(
                {
                    "prompt": messages[:-1],
                    "chosen": [{"role": "assistant", "content": approved}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                }
            )
    extra = {"drafter": label, "prompts": prompts}
    emit("median_edit_distance", round(statistics.median(distances), 3), "share of characters rewritten", **extra)
    emit("unchanged_share", round(unchanged / len(drafts), 3), "share of drafts approved unchanged", **extra)
    emit("house_style_share", round(styled / len(drafts), 3), "share of drafts in the house style", **extra)
    emit("example_draft", 0, "", drafter=label, prompt=conversations[0][-2]["content"], draft=drafts[0][:400])
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=None, help="the training preset (default: the one-click preset)")
    parser.add_argument("--round1-share", type=float, default=0.4, help="share of the conversations drafted in round 1")
    parser.add_argument("--limit", type=int, default=0, help="at most this many prompts per round (0: all)")
    parser.add_argument("--max-new-tokens", type=int, default=0, help="cut drafts here (0: the editor's)")
    parser.add_argument("--dpo-set", action="append", default=[], help="field=value over the DPO job's preset (JSON)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=str(ROOT / "var" / "models" / "SmolLM2-135M-Instruct"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    setup_django()
    from annotation.services.drafts import DRAFT_PARAMS
    from serving.inference.cache import BaseModelCache
    from training.engine.config import preset
    from training.engine.default_model import ensure_default_model_folder
    from training.engine.run import JobSpec, run_job
    from training.services.launch_plan import DEFAULT_PRESET

    preset_name = args.preset or DEFAULT_PRESET
    model_dir = ensure_default_model_folder(args.model)
    round0, round1 = rounds(args.round1_share)
    if args.limit:
        round0, round1 = round0[: args.limit], round1[: args.limit]

    params = {**DRAFT_PARAMS, **({"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {})}
    dpo_config = {**preset(preset_name), "method": "dpo"}
    for item in args.dpo_set:
        key, value = item.split("=", 1)
        dpo_config[key] = json.loads(value)
    emit("conversations", len(round0), "round 0 prompts", round1=len(round1), preset=preset_name, decoding=params)
    cache = BaseModelCache(max_adapters=2, max_bases=1)
    drafts0, seconds = draft_all(cache, model_dir, round0, params, None)
    emit("draft_seconds_per_prompt", round(seconds / len(round0), 2), "s", drafter="base", round=0)
    pairs0 = judge("round 0: base model", drafts0, round0, prompts=len(round0))

    with tempfile.TemporaryDirectory() as work:
        sft_dir = Path(work) / "sft"
        started = time.perf_counter()
        sft = run_job(
            JobSpec(
                base_model_path=str(model_dir),
                train_examples=round0,
                output_dir=str(sft_dir),
                config={**preset(preset_name), "method": "lora"},
                score_examples=False,
                behaviour=False,
            )
        )
        emit("sft_seconds", round(time.perf_counter() - started, 1), "s", examples=sft.metrics.get("train_examples"))
        adapter = Path(sft.adapter_dir or "")

        base1, _ = draft_all(cache, model_dir, round1, params, None)
        judge("round 1 control: base model", base1, round1, prompts=len(round1))
        drafts1, seconds = draft_all(cache, model_dir, round1, params, adapter)
        emit("draft_seconds_per_prompt", round(seconds / len(round1), 2), "s", drafter="adapter", round=1)
        pairs1 = judge("round 1: adapter trained on round 0", drafts1, round1, prompts=len(round1))
        del cache  # the DPO job loads its own copy

        # Half of round 1's corrections held out (seeded): the adapter's own mistakes it has not trained on.
        held = set(range(0, len(pairs1), 2))
        train_pairs = pairs0 + [p for i, p in enumerate(pairs1) if i not in held]
        held_pairs = [p for i, p in enumerate(pairs1) if i in held]
        emit("preference_pairs", len(train_pairs), "pairs to train on", held_out=len(held_pairs))
        if not held_pairs or not train_pairs:
            emit("dpo_skipped", 0, "", reason="no corrected drafts to train on or hold out")
            return
        started = time.perf_counter()
        dpo = run_job(
            JobSpec(
                base_model_path=str(model_dir),
                train_examples=round0,
                output_dir=str(Path(work) / "dpo"),
                config=dpo_config,
                init_adapter_path=str(adapter),
                preference_examples=train_pairs,
                preference_validation=held_pairs,
                score_examples=False,
                behaviour=False,
            )
        )
        settings_used = {k: dpo.config.get(k) for k in ("beta", "learning_rate", "epochs")}
        extra = {"held_out_pairs": len(held_pairs), **settings_used}
        emit("dpo_seconds", round(time.perf_counter() - started, 1), "s", pairs=len(train_pairs))
        for when in ("before", "after"):
            value = dpo.metrics.get(f"preference_accuracy_{when}")
            emit(f"dpo_preference_accuracy_{when}", value, "share of held-out pairs", **extra)
        emit("dpo_reward_accuracy", dpo.metrics.get("reward_accuracy"), "share of held-out pairs moved", **extra)


if __name__ == "__main__":
    main()
