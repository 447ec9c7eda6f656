"""Behavioural evaluation, the engine's part: greedy answers of the base and of the adapter to the job's
validation prompts and a sample of the control set, recorded with how they were decoded.

The platform then runs the project's own per-example checks on every answer (evaluation/services/behaviour.py)
and reports pass rates per check and per category, base against adapter: whether the adapter learned the
project's rules, not only a lower loss.

Cost, bounded three ways: at most `VALIDATION_PROMPTS` validation prompts (the first `n_samples`, which
are the job's sample generations too, then a seeded sample of the rest) and `CONTROL_PROMPTS` control
prompts; answers of at most about the longest reference answer (plus a margin, within `max_new_tokens`);
and a time budget (`BUDGET_SHARE` of the training time): batches beyond those holding the samples and the
control batch are generated only while the time spent stays within it. Base answers are generated
with the adapter disabled (`evaluate.base_mode`), i.e. on the very base the adapter was trained on.

Torch is imported by the functions that generate (through `evaluate`), never at import.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import results
from .data import Conversation

VALIDATION_PROMPTS = 24
CONTROL_PROMPTS = 6
BATCH_SIZE = 8
MIN_NEW_TOKENS = 32
BUDGET_SHARE = 0.5  # of the training time
PROMPT_FORMAT = "chat template with the generation prompt"


@dataclass(frozen=True)
class Item:
    """A conversation to evaluate on and where it comes from."""

    conversation: Conversation
    split: str  # "validation" | "control"
    source: str  # "train" | "validation" | "control"
    index: int
    category: str = ""


def _prompt_and_reference(messages: Conversation) -> tuple[Conversation, str] | None:
    last = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not last or not any(m["role"] == "user" for m in messages[: last[-1]]):
        return None
    return messages[: last[-1]], messages[last[-1]]["content"]


def choose(n: int, first: int, limit: int, seed: int) -> list[int]:
    """Indices of `n` items to evaluate: the first `first` (the job's samples), then a seeded sample of the
    others, up to `limit` in all, in their original order."""
    if n <= limit:
        return list(range(n))
    head = list(range(min(first, limit, n)))
    rest = random.Random(seed).sample(range(len(head), n), limit - len(head))  # noqa: S311 - not security
    return head + sorted(rest)


def answer_limit(tokenizer: Any, references: Sequence[str], max_new_tokens: int) -> int:
    """New tokens per answer: a quarter more than the longest reference answer plus 16 (an answer in the
    data's style fits, its sign-off included), at least MIN_NEW_TOKENS, at most `max_new_tokens`."""
    lengths = [len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in references]
    wanted = math.ceil(1.25 * max(lengths)) + 16 if lengths else max_new_tokens
    return max(1, min(max_new_tokens, max(MIN_NEW_TOKENS, wanted)))


def run_behaviour(
    model: Any,
    tokenizer: Any,
    *,
    validation: Sequence[Item],
    control: Sequence[Item],
    n_samples: int,
    max_new_tokens: int,
    seed: int = 0,
    budget_seconds: float | None = None,
    validation_prompts: int = VALIDATION_PROMPTS,
    control_prompts: int = CONTROL_PROMPTS,
    batch_size: int = BATCH_SIZE,
    autocast: bool | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> results.BehaviourRun:
    """Greedy answers of base and adapter (one left-padded batch per model and chunk of `batch_size`
    prompts). The validation chunks holding the first `n_samples` prompts (at least one chunk) and the
    control chunk are always answered; further validation chunks while the time spent plus the slowest
    chunk's time stays within `budget_seconds` (None: no limit). At most `validation_prompts` validation
    prompts, or `n_samples` when that is more. Conversations without a user turn before an assistant turn
    are skipped."""
    from .evaluate import base_mode, generate_answers
    from .scoring import inference_autocast

    started = clock()
    val = [(it, pair) for it in validation if (pair := _prompt_and_reference(it.conversation))]
    ctl = [(it, pair) for it in control if (pair := _prompt_and_reference(it.conversation))]
    chosen_val = [val[i] for i in choose(len(val), n_samples, max(validation_prompts, n_samples), seed)]
    chosen_ctl = [ctl[i] for i in choose(len(ctl), 0, control_prompts, seed)]
    limit = answer_limit(tokenizer, [reference for _, (_, reference) in chosen_val], max_new_tokens)
    chunks = [chosen_val[i : i + batch_size] for i in range(0, len(chosen_val), batch_size)]
    head = max(1, math.ceil(min(n_samples, len(chosen_val)) / batch_size))  # the job's samples: always answered
    always = chunks[:head] + [chosen_ctl[i : i + batch_size] for i in range(0, len(chosen_ctl), batch_size)]
    optional = chunks[head:]
    context = inference_autocast(model, autocast)

    def answer(chunk: list[tuple[Item, tuple[Conversation, str]]]) -> list[results.BehaviourPrompt]:
        prompts = [prompt for _, (prompt, _) in chunk]
        with base_mode(model):
            before = generate_answers(model, tokenizer, prompts, limit, context)
        after = generate_answers(model, tokenizer, prompts, limit, context)
        return [
            {
                "split": it.split,
                "source": it.source,
                "index": it.index,
                "category": it.category,
                "prompt": [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt],
                "reference": reference,
                "base": b,
                "adapter": a,
            }
            for (it, (prompt, reference)), b, a in zip(chunk, before, after, strict=True)
        ]

    answered: dict[int, results.BehaviourPrompt] = {}
    last = 0.0  # the slowest chunk so far: what the next one is expected to take
    for chunk in always:
        t0 = clock()
        for (it, _), row in zip(chunk, answer(chunk), strict=True):
            answered[id(it)] = row
        last = max(last, clock() - t0)
    skipped = 0
    for chunk in optional:
        spent = clock() - started
        if budget_seconds is not None and spent + last > budget_seconds:
            skipped += len(chunk)
            continue
        t0 = clock()
        for (it, _), row in zip(chunk, answer(chunk), strict=True):
            answered[id(it)] = row
        last = max(last, clock() - t0)
    prompts = [answered[id(it)] for it, _ in [*chosen_val, *chosen_ctl] if id(it) in answered]
    return {
        "prompts": prompts,
        "decoding": {
            "strategy": "greedy",
            "max_new_tokens": limit,
            "prompt_format": PROMPT_FORMAT,
            "batch_size": batch_size,
        },
        "seconds": clock() - started,
        "budget_seconds": budget_seconds,
        "validation_available": len(val),
        "control_available": len(ctl),
        "skipped": skipped,
    }


def samples(run: results.BehaviourRun, n: int) -> list[results.Sample]:
    """The job's sample generations: the first `n` validation prompts of the run (answers stripped)."""
    rows = [p for p in run["prompts"] if p["split"] == "validation"][:n]
    return [
        results.sample(p["prompt"], p["reference"], p["base"]["text"].strip(), p["adapter"]["text"].strip())
        for p in rows
    ]
