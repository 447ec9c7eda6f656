"""After a successful job: every example's loss under the adapter and under the base, and the forgetting check.

Per-example loss (`score_examples`): the mean cross-entropy over an example's assistant tokens, once with
the adapter and once with it disabled (`evaluate.base_mode`), inference only. Examples are sorted by
length and batched by a token budget (little padding), or packed into blocks of `max_seq_length` with
position ids restarting per example when the job packed; the per-token losses are summed per example.
The language-model head only runs on the labelled positions.

Precision (`inference_autocast`): on a CPU with native bfloat16 (AVX512-BF16 or AMX) a float32 LoRA / DoRA
model's decoder runs under bfloat16 autocast (about 3x faster; per-example losses move by well under 1 %);
the output head runs in float32 on the gathered positions and the loss is a float32 log-softmax. On CUDA
the decoder runs in the compute dtype. Quantised (QLoRA) models already compute in their compute dtype.
The validation split's aggregate loss (`pooled_losses`) comes from the same per-example passes.

Forgetting (`forgetting_check`): base vs adapter perplexity on a general control set (the built-in
`control_set`, or the project's own) plus the project's general-category validation examples, the same
ratio on the job's validation split, and greedy generations for a few control prompts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import results
from .data import IGNORE_INDEX, Conversation, pack_groups, tokenize_conversation

# Tokens per forward pass (rows × width); at least the training batch's, as no activations are kept. On a CPU
# 2-4k token batches run as fast as larger ones (measured on the bench model) and need less memory.
MIN_TOKEN_BUDGET = 4096
MAX_ROWS = 256


@dataclass
class ScoredFeature:
    input_ids: list[int]
    labels: list[int]
    truncated_tokens: int

    @property
    def tokens(self) -> int:
        """Labelled tokens that get a prediction (the first token of a sequence never does)."""
        return sum(1 for label in self.labels[1:] if label != IGNORE_INDEX)


def example_features(tokenizer: Any, conversations: Sequence[Conversation], max_seq_length: int) -> list[ScoredFeature]:
    """One feature per conversation (none dropped, unlike `build_features`), truncated to `max_seq_length`."""
    out = []
    for messages in conversations:
        tok = tokenize_conversation(tokenizer, messages)
        n = len(tok["input_ids"])
        out.append(
            ScoredFeature(tok["input_ids"][:max_seq_length], tok["labels"][:max_seq_length], max(0, n - max_seq_length))
        )
    return out


def _parts(model: Any) -> tuple[Any, Any] | None:
    """(decoder, lm head) of a causal LM (PEFT-wrapped or not), or None when logits need the full forward."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(inner, "config", None)
    if config is None or getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None
    get_decoder = getattr(inner, "get_decoder", None)
    decoder = get_decoder() if callable(get_decoder) else None
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    if decoder is None or head is None or decoder is inner:
        return None
    return decoder, head


def _quantized(model: Any) -> bool:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return bool(getattr(inner, "hf_quantizer", None) is not None or getattr(inner, "is_quantized", False))


def cpu_has_native_bf16() -> bool:
    """True on a CPU whose matrix units multiply bfloat16 natively (AVX512-BF16 or AMX), where oneDNN runs
    bfloat16 matrix products several times faster than float32 ones."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = (getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None))
    return bool(torch.backends.mkldnn.is_available() and any(callable(c) and c() for c in checks))


def inference_autocast(model: Any, enabled: bool | None = None) -> Any:
    """The autocast context for the scoring forward passes (see the module docstring); `enabled` None
    decides from the hardware and the model, False forces the model's own precision."""
    import torch

    if enabled is False or _quantized(model):
        return contextlib.nullcontext()
    device = next(p.device for p in model.parameters())
    if device.type == "cuda":
        from .model import compute_dtype

        dtype = compute_dtype()
        return torch.autocast("cuda", dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()
    if device.type == "cpu" and (enabled or cpu_has_native_bf16()):
        weights = {p.dtype for p in model.parameters() if p.is_floating_point()}
        if weights == {torch.float32}:
            return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _rows(features: Sequence[ScoredFeature], packing: bool, block: int) -> list[list[int]]:
    """Rows of example indices: one example per row, or packed blocks; longest first."""
    live = [i for i, f in enumerate(features) if f.tokens]
    lengths = [len(features[i].input_ids) for i in live]
    if packing:
        rows = [[live[j] for j in group] for group in pack_groups(lengths, block)]
    else:
        rows = [[i] for i in live]
    return sorted(rows, key=lambda r: -sum(len(features[i].input_ids) for i in r))


def loss_sums(
    model: Any,
    features: Sequence[ScoredFeature],
    pad_token_id: int,
    *,
    packing: bool = False,
    block: int = 1024,
    token_budget: int = MIN_TOKEN_BUDGET,
    autocast: bool | None = None,
) -> list[tuple[float, int]]:
    """(sum of token losses, token count) per feature, for the model as it is (adapter on or off).

    `autocast`: see `inference_autocast` (None: bfloat16 where the CPU has it natively)."""
    import torch

    sums = [0.0] * len(features)
    counts = [0] * len(features)
    rows = _rows(features, packing, block)
    parts = _parts(model)
    device = next(p.device for p in model.parameters())
    was_training = model.training
    model.eval()
    start = 0
    with torch.inference_mode():
        while start < len(rows):
            width = sum(len(features[i].input_ids) for i in rows[start])
            take = max(1, min(MAX_ROWS, token_budget // max(width, 1), len(rows) - start))
            batch = rows[start : start + take]
            start += take
            ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
            owner = torch.full((len(batch), width), -1, dtype=torch.long)
            positions = torch.zeros((len(batch), width), dtype=torch.long) if packing else None
            mask = None if packing else torch.zeros((len(batch), width), dtype=torch.long)
            for r, members in enumerate(batch):
                at = 0
                for i in members:
                    f = features[i]
                    n = len(f.input_ids)
                    ids[r, at : at + n] = torch.tensor(f.input_ids)
                    labels[r, at : at + n] = torch.tensor(f.labels)
                    owner[r, at : at + n] = i
                    if positions is not None:
                        positions[r, at : at + n] = torch.arange(n)
                    at += n
                if positions is not None:  # the padded tail is its own segment
                    positions[r, at:] = torch.arange(width - at)
                if mask is not None:
                    mask[r, :at] = 1
            inputs: dict[str, Any] = {"input_ids": ids.to(device), "use_cache": False}
            if positions is not None:
                inputs["position_ids"] = positions.to(device)
            else:
                inputs["attention_mask"] = mask.to(device)  # type: ignore[union-attr]
            target = labels[:, 1:]
            # A label counts when it is an assistant token predicted from the same example.
            keep = (target != IGNORE_INDEX) & (owner[:, 1:] == owner[:, :-1])
            keep_dev = keep.to(device)
            if parts is not None:
                decoder, head = parts
                with inference_autocast(model, autocast):
                    hidden = decoder(**inputs).last_hidden_state[:, :-1]
                # The head in its own dtype (float32 for LoRA on a CPU), only where there is a label.
                logits = head(hidden[keep_dev].to(head.weight.dtype)).float()
            else:  # softcapped / scaled logits: the whole model, in its own precision
                logits = model(**inputs).logits[:, :-1][keep_dev].float()
            token_loss = torch.nn.functional.cross_entropy(logits, target[keep].to(device), reduction="none")
            who = owner[:, 1:][keep]
            local, slot = torch.unique(who, return_inverse=True)
            per_sum = torch.zeros(len(local), dtype=torch.float64).index_add_(0, slot, token_loss.double().cpu())
            per_count = torch.bincount(slot, minlength=len(local))
            for i, s, c in zip(local.tolist(), per_sum.tolist(), per_count.tolist(), strict=True):
                sums[i] += s
                counts[i] += c
    model.train(was_training)
    return list(zip(sums, counts, strict=True))


def _mean(pair: tuple[float, int]) -> float | None:
    return pair[0] / pair[1] if pair[1] else None


def base_and_adapter(
    model: Any, features: Sequence[ScoredFeature], pad_token_id: int, **kw: Any
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """(base, adapter) loss sums per feature."""
    from .evaluate import base_mode

    with base_mode(model):
        base = loss_sums(model, features, pad_token_id, **kw)
    adapter = loss_sums(model, features, pad_token_id, **kw)
    return base, adapter


@dataclass
class Scored:
    """One example to score: its conversation and where it came from."""

    conversation: Conversation
    index: int  # line index in its source file
    source: str  # train | validation
    split_used: str  # train | validation


def token_budget(batch_size: int, max_seq_length: int) -> int:
    return max(MIN_TOKEN_BUDGET, 4 * batch_size * max_seq_length)


def score_examples(
    model: Any,
    tokenizer: Any,
    items: Sequence[Scored],
    *,
    max_seq_length: int,
    packing: bool,
    batch_size: int,
    features: Sequence[ScoredFeature] | None = None,
    autocast: bool | None = None,
) -> list[results.ExampleScore]:
    """Every item's mean assistant-token loss under the base and the adapter (None when nothing is left
    after truncation), its scored tokens and the tokens truncation cut, in the items' order."""
    feats = (
        list(features)
        if features is not None
        else example_features(tokenizer, [it.conversation for it in items], max_seq_length)
    )
    base, adapter = base_and_adapter(
        model,
        feats,
        tokenizer.pad_token_id,
        packing=packing,
        block=max_seq_length,
        token_budget=token_budget(batch_size, max_seq_length),
        autocast=autocast,
    )
    return [
        results.example_score(
            index=it.index,
            source=it.source,
            split_used=it.split_used,
            adapter_loss=_mean(a),
            base_loss=_mean(b),
            tokens=a[1],
            truncated_tokens=f.truncated_tokens,
        )
        for it, f, b, a in zip(items, feats, base, adapter, strict=True)
    ]


def _ratio(adapter_loss: float | None, base_loss: float | None) -> float | None:
    if adapter_loss is None or base_loss is None:
        return None
    return math.exp(min(adapter_loss - base_loss, 50.0))


def _ppl(loss: float | None) -> float | None:
    return None if loss is None else math.exp(min(loss, 50.0))


def _pooled(pairs: Sequence[tuple[float, int]]) -> float | None:
    total, count = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return total / count if count else None


def pooled_losses(scores: Sequence[results.ExampleScore]) -> tuple[tuple[float, int], tuple[float, int]]:
    """Token-weighted (base, adapter) sums of token losses and token counts over some scored examples:
    the split's aggregate loss is then sum / count, as a pass over the whole split would give."""
    base, adapter, count = 0.0, 0.0, 0
    for s in scores:
        b, a, n = s["base_loss"], s["adapter_loss"], s["tokens"]
        if n and b is not None and a is not None:
            base, adapter, count = base + b * n, adapter + a * n, count + n
    return (base, count), (adapter, count)


CONTROL_SAMPLE = 64  # control conversations scored per job (a deterministic sample)
CONTROL_MAX_TOKENS = 8192  # and at most this many of their tokens (a project's control set may be long)
CONTROL_GENERATIONS = 3
CONTROL_NEW_TOKENS = 24


def _bounded(feats: list[ScoredFeature], max_tokens: int) -> list[ScoredFeature]:
    """The first features (in sample order) whose tokens fit `max_tokens`; at least one."""
    out: list[ScoredFeature] = []
    used = 0
    for f in feats:
        if out and used + len(f.input_ids) > max_tokens:
            break
        out.append(f)
        used += len(f.input_ids)
    return out


def forgetting_check(
    model: Any,
    tokenizer: Any,
    *,
    control: Sequence[Conversation],
    source: str,
    general_scores: Sequence[results.ExampleScore] = (),
    validation_scores: Sequence[results.ExampleScore] = (),
    max_seq_length: int,
    batch_size: int,
    seed: int = 0,
    sample_size: int = CONTROL_SAMPLE,
    max_tokens: int = CONTROL_MAX_TOKENS,
    n_generations: int = CONTROL_GENERATIONS,
    max_new_tokens: int = CONTROL_NEW_TOKENS,
    threshold: float = results.FORGETTING_THRESHOLD,
    autocast: bool | None = None,
) -> results.ForgettingReport:
    """Perplexity adapter ÷ base on (a sample of) the control set plus the project's general validation
    examples (`general_scores`, already scored), the same ratio on the validation split (from
    `validation_scores`), and greedy generations for a few control prompts (one batch each for base
    and adapter). The cost is bounded: `sample_size` conversations, `max_tokens` tokens, `n_generations`
    answers of `max_new_tokens`; in bfloat16 where the CPU has it (see `inference_autocast`)."""
    from .control_set import sample_control
    from .evaluate import base_mode, generate_batch, prompt_and_reference

    chosen = sample_control(list(control), sample_size, seed)
    feats = _bounded(example_features(tokenizer, chosen, max_seq_length), max_tokens)
    chosen = chosen[: len(feats)]
    base, adapter = base_and_adapter(
        model,
        feats,
        tokenizer.pad_token_id,
        packing=False,
        block=max_seq_length,
        token_budget=token_budget(batch_size, max_seq_length),
        autocast=autocast,
    )
    general_base, general_adapter = pooled_losses(general_scores)
    general = [s for s in general_scores if s["tokens"] and s["base_loss"] is not None]
    base_loss, adapter_loss = _pooled([*base, general_base]), _pooled([*adapter, general_adapter])
    val_base, val_adapter = (_pooled([pair]) for pair in pooled_losses(validation_scores))
    prompts = [prompt_and_reference(c)[0] for c in chosen[:n_generations]]
    with base_mode(model):
        before = generate_batch(model, tokenizer, prompts, max_new_tokens, inference_autocast(model, autocast))
    after = generate_batch(model, tokenizer, prompts, max_new_tokens, inference_autocast(model, autocast))
    control_ratio = _ratio(adapter_loss, base_loss)
    return {
        "control_ratio": results.clean_float(control_ratio),
        "control_base_ppl": results.clean_float(_ppl(base_loss)),
        "control_adapter_ppl": results.clean_float(_ppl(adapter_loss)),
        "validation_ratio": results.clean_float(_ratio(val_adapter, val_base)),
        "control_examples": len(chosen) + len(general),
        "source": source,
        "samples": [
            {"prompt": [{"role": m["role"], "content": m["content"]} for m in p], "before": b, "after": a}
            for p, b, a in zip(prompts, before, after, strict=True)
        ],
        "threshold": threshold,
        "warn": results.forgetting_warns(control_ratio, threshold),
    }
