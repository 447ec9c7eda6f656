"""Conversation rendering, assistant-only labels, packing and truncation statistics.

Rendering uses the tokenizer's own chat template, so any base model with a template works. Which tokens
are learned (labels; every other token gets -100):

- A template with `{% generation %}` … `{% endgeneration %}` markers (the tiny models' and the default
  ChatML template Annotune applies, and many hub models') says so itself: the mask comes from
  `tokenizer.apply_chat_template(..., return_assistant_tokens_mask=True)`, the same one TRL's
  `assistant_only_loss=True` uses, so a dataset trains the same tokens here and in TRL.
- Any other template: assistant spans are found by rendering growing prefixes of the conversation: the
  text the template produces for `messages[:i]` + generation prompt is where assistant turn `i` starts,
  and `messages[:i+1]` (trailing whitespace removed) is where it ends, so the labelled tokens are the
  answer plus the template's end-of-turn token (`assistant_spans`).

Packing (`packing=True`): whole examples are placed into blocks of at most `max_seq_length` tokens
(first-fit decreasing; an example is never split). Position ids restart at 0 for every example and no
attention mask is passed, which makes transformers build a block-diagonal causal mask, so an example
never attends to another one in its block. The unfilled tail of a block is padding (its own segment,
label -100).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import DataError

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
Conversation = list[dict[str, str]]
# `{% generation %}` and its whitespace-trim variants (the test TRL applies, trl.chat_template_utils).
GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")


@dataclass
class TruncationStats:
    examples: int = 0
    truncated_examples: int = 0
    tokens_total: int = 0
    tokens_lost: int = 0
    assistant_turns: int = 0
    assistant_turns_cut: int = 0
    dropped_examples: int = 0  # no assistant token left after truncation

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def load_conversations(source: str | Path | Iterable[Any], system_prompt: str = "") -> list[Conversation]:
    """Accept a JSONL path (one `{"messages": [...]}` or bare message list per line) or an iterable of the same.

    `system_prompt`: the project's default system prompt, put first in every conversation that has no system
    turn, as the editor does for the examples written in it and as the playground does for its prompts; an
    adapter trained without it would meet, when served, a prompt it never saw (and a template's own default
    system prompt in training).
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"Data file not found: {path}")
        items: list[Any] = []
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        items.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path.name} line {n}: invalid JSON ({exc.msg})") from exc
    else:
        items = list(source)
    out = []
    for n, item in enumerate(items):
        messages = item.get("messages") if isinstance(item, dict) else item
        conversation = check_conversation(messages, n)
        if system_prompt and conversation[0]["role"] != "system":
            conversation.insert(0, {"role": "system", "content": system_prompt})
        out.append(conversation)
    return out


def check_conversation(messages: Any, index: int = 0) -> Conversation:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"example {index}: expected a non-empty list of messages")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise DataError(f"example {index}: each message needs a role in {ROLES} and text content")
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"example {index}: no assistant message to learn from")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _render(tokenizer: Any, messages: Sequence[dict[str, str]], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer: Any, messages: Conversation) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of the assistant answers (+ end-of-turn token)."""
    text = _render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = _render(tokenizer, messages[:i], generation_prompt=True) if i else ""
        upto = _render(tokenizer, messages[: i + 1]).rstrip()
        if not (text.startswith(upto) and upto.startswith(prefix)):
            raise DataError("the chat template does not render conversations prefix by prefix; cannot mask labels")
        spans.append((len(prefix), len(upto)))
    return text, spans


def has_generation_markers(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template marks the assistant's tokens with `{% generation %}` and can
    report them (a fast tokenizer: the mask needs token offsets)."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default")
    return bool(
        isinstance(template, str) and GENERATION_MARKER.search(template) and getattr(tokenizer, "is_fast", False)
    )


def tokenize_conversation(tokenizer: Any, messages: Conversation) -> dict[str, Any]:
    """Full (untruncated) token ids, labels (-100 outside assistant answers) and assistant turn token ranges.

    The template's own assistant mask where it has `{% generation %}` markers, else `tokenize_by_spans`.
    """
    if has_generation_markers(tokenizer):
        out = tokenize_by_template_mask(tokenizer, messages)
        if out["turns"]:
            return out
        # Markers that mark nothing in this conversation (e.g. inside a branch it never takes): the
        # prefix method still finds the answers.
    return tokenize_by_spans(tokenizer, messages)


def tokenize_by_template_mask(tokenizer: Any, messages: Conversation) -> dict[str, Any]:
    """`tokenize_conversation` from the template's `{% generation %}` mask (`return_assistant_tokens_mask`)."""
    enc = tokenizer.apply_chat_template(
        list(messages), tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = [int(i) for i in enc["input_ids"]]
    mask = [int(m) for m in enc["assistant_masks"]]
    labels = [t if m else IGNORE_INDEX for t, m in zip(ids, mask, strict=True)]
    turns = []
    start = None
    for t, m in enumerate([*mask, 0]):
        if m and start is None:
            start = t
        elif not m and start is not None:
            turns.append((start, t))
            start = None
    return {"input_ids": ids, "labels": labels, "turns": turns}


def tokenize_by_spans(tokenizer: Any, messages: Conversation) -> dict[str, Any]:
    """`tokenize_conversation` from the character spans of `assistant_spans` (any prefix-stable template)."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE_INDEX] * len(ids)
    turns = []
    for start, end in spans:
        first = last = None
        for t, (a, _b) in enumerate(enc["offset_mapping"]):
            if start <= a < end:
                labels[t] = ids[t]
                first = t if first is None else first
                last = t
        if first is not None and last is not None:
            turns.append((first, last + 1))
    return {"input_ids": ids, "labels": labels, "turns": turns}


def build_features(
    tokenizer: Any, conversations: Sequence[Conversation], max_seq_length: int, packing: bool = False
) -> tuple[list[dict[str, list[int]]], TruncationStats]:
    """Tokenize, truncate to `max_seq_length` and optionally pack. Returns (features, truncation stats).

    Features hold `input_ids` and `labels` (and `position_ids` when packed); the collator pads them.
    """
    stats = TruncationStats()
    examples = []
    for messages in conversations:
        tok = tokenize_conversation(tokenizer, messages)
        n = len(tok["input_ids"])
        stats.examples += 1
        stats.tokens_total += n
        stats.assistant_turns += len(tok["turns"])
        if n > max_seq_length:
            stats.truncated_examples += 1
            stats.tokens_lost += n - max_seq_length
            stats.assistant_turns_cut += sum(1 for _a, b in tok["turns"] if b > max_seq_length)
        ids, labels = tok["input_ids"][:max_seq_length], tok["labels"][:max_seq_length]
        if all(label == IGNORE_INDEX for label in labels):
            stats.dropped_examples += 1
            continue
        examples.append({"input_ids": ids, "labels": labels})
    if not packing:
        return examples, stats
    return pack(examples, max_seq_length), stats


def pack_groups(lengths: Sequence[int], block: int) -> list[list[int]]:
    """First-fit-decreasing: the indices of the examples in each block (ascending within a block)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    free: list[int] = []
    for i in order:
        n = lengths[i]
        for b, room in enumerate(free):
            if n <= room:
                bins[b].append(i)
                free[b] -= n
                break
        else:
            bins.append([i])
            free.append(block - n)
    return [sorted(members) for members in bins]


def pack(examples: list[dict[str, list[int]]], block: int) -> list[dict[str, list[int]]]:
    """First-fit-decreasing packing of whole examples into blocks; position ids restart per example."""
    packed = []
    for members in pack_groups([len(e["input_ids"]) for e in examples], block):
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for i in members:
            ids += examples[i]["input_ids"]
            labels += examples[i]["labels"]
            positions += list(range(len(examples[i]["input_ids"])))
        packed.append({"input_ids": ids, "labels": labels, "position_ids": positions})
    return packed


class Collator:
    """Pads a batch to its longest member. Padded batches get an attention mask; packed ones get position ids
    (a padded tail is its own segment) and no mask, so attention stays inside each packed example."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad = pad_token_id

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        packed = "position_ids" in features[0]
        batch: dict[str, list[list[int]]] = {"input_ids": [], "labels": []}
        batch["position_ids" if packed else "attention_mask"] = []
        for f in features:
            n = len(f["input_ids"])
            gap = width - n
            batch["input_ids"].append(f["input_ids"] + [self.pad] * gap)
            batch["labels"].append(f["labels"] + [IGNORE_INDEX] * gap)
            if packed:
                batch["position_ids"].append(f["position_ids"] + list(range(gap)))
            else:
                batch["attention_mask"].append([1] * n + [0] * gap)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}


def count_tokens(features: Sequence[dict[str, list[int]]]) -> int:
    return sum(len(f["input_ids"]) for f in features)


def split_validation(
    conversations: list[Conversation], fraction: float, seed: int
) -> tuple[list[Conversation], list[Conversation]]:
    """Deterministic hold-out used when the job has no validation set (at least one example each side)."""
    held = set(held_out_indices(len(conversations), fraction, seed))
    train = [c for i, c in enumerate(conversations) if i not in held]
    return train, [conversations[i] for i in sorted(held)]


def held_out_indices(n: int, fraction: float, seed: int) -> list[int]:
    """The indices `split_validation` holds out of `n` training examples (ascending)."""
    import random

    if fraction <= 0 or n < 2:
        return []
    idx = list(range(n))
    random.Random(seed).shuffle(idx)  # noqa: S311 - reproducible split, not security
    k = min(len(idx) - 1, max(1, round(len(idx) * fraction)))
    return sorted(idx[:k])
