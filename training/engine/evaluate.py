"""Validation loss / perplexity of base vs adapter, and greedy generations before / after training.

"Base" is the adapter's own base with the adapter disabled (`PeftModel.disable_adapter()`), i.e. for QLoRA
the 4-bit base the adapter was trained on. That needs no second copy of the model in memory.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from . import results
from .data import IGNORE_INDEX, Collator, Conversation
from .model_text import model_text


def _device(model: Any) -> Any:
    return next(p.device for p in model.parameters())


def eval_loss(model: Any, features: list[dict[str, list[int]]], pad_token_id: int, batch_size: int = 8) -> dict:
    """Token-weighted mean cross-entropy over the labelled (assistant) tokens and its perplexity."""
    import torch

    if not features:
        return {"loss": None, "perplexity": None, "tokens": 0}
    collate = Collator(pad_token_id)
    device = _device(model)
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(features), batch_size):
            batch = {k: v.to(device) for k, v in collate(features[i : i + batch_size]).items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()
            shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(
                shift_logits.reshape(-1, shift_logits.size(-1)),
                shift_labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total += loss.item()
            count += int((shift_labels != IGNORE_INDEX).sum())
    model.train(was_training)
    mean = total / count if count else float("nan")
    return {"loss": mean, "perplexity": math.exp(min(mean, 50.0)), "tokens": count}


def prompt_and_reference(messages: Conversation) -> tuple[Conversation, str]:
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last], messages[last]["content"]


def generate(model: Any, tokenizer: Any, prompt: Conversation, max_new_tokens: int = 48) -> str:
    import torch

    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    enc = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(_device(model))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            use_cache=True,
        )
    model.train(was_training)
    return model_text(tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)).strip()


def generate_batch(
    model: Any, tokenizer: Any, prompts: list[Conversation], max_new_tokens: int = 48, autocast: Any = None
) -> list[str]:
    """Greedy answers to several prompts in one left-padded batch (one decoding loop for all of them),
    stripped; `autocast`: an optional context to generate under (see `scoring.inference_autocast`)."""
    return [a["text"].strip() for a in generate_answers(model, tokenizer, prompts, max_new_tokens, autocast)]


def generate_answers(
    model: Any, tokenizer: Any, prompts: list[Conversation], max_new_tokens: int = 48, autocast: Any = None
) -> list[results.BehaviourAnswer]:
    """Greedy answers to several prompts in one left-padded batch: each answer's text as decoded (special
    tokens skipped, nothing stripped), its new tokens up to the end-of-turn token, and whether
    `max_new_tokens` cut it. Prompts are rendered by the tokenizer's chat template with its generation prompt."""
    import torch

    if not prompts:
        return []
    device = _device(model)
    rows = [
        tokenizer(
            tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True), add_special_tokens=False
        )["input_ids"]
        for p in prompts
    ]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + list(r) for r in rows], dtype=torch.long, device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast if autocast is not None else contextlib.nullcontext():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=pad,
            use_cache=True,
        )
    model.train(was_training)
    answers = []
    for row in out:
        new = row[width:].tolist()
        stop = new.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in new else None
        kept = new if stop is None else new[:stop]
        text = model_text(tokenizer.decode(kept, skip_special_tokens=True))
        answers.append(results.behaviour_answer(text, len(kept), stop is None and len(new) >= max_new_tokens))
    return answers


def loss_summary(total: float, count: int) -> dict:
    """{loss, perplexity, tokens} (as `eval_loss` returns them) from a sum of token losses and their count."""
    if not count:
        return {"loss": None, "perplexity": None, "tokens": 0}
    mean = total / count
    return {"loss": mean, "perplexity": math.exp(min(mean, 50.0)), "tokens": count}


def base_mode(model: Any) -> Any:
    """Context manager under which a PEFT model behaves as its base (no-op for a plain model)."""
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def compare(
    model: Any,
    tokenizer: Any,
    features: list[dict[str, list[int]]],
    conversations: list[Conversation],
    n_samples: int = 5,
    max_new_tokens: int = 48,
    batch_size: int = 8,
    losses: tuple[dict, dict] | None = None,
) -> dict[str, Any]:
    """Base vs adapter: {"base": {loss, perplexity, tokens}, "adapter": {...}, "samples": [...]}.

    `losses`: (base, adapter) already measured on `features` (the job takes them from the per-example
    scoring pass, `scoring.pooled_losses`), so the validation split is not forwarded again.
    Samples are `results.Sample`s: prompt (messages), reference answer, `before` (base) and `after` (adapter)
    greedy outputs, generated in one batch each.
    """
    pad = tokenizer.pad_token_id
    prompts = [prompt_and_reference(c) for c in conversations[:n_samples]]
    with base_mode(model):
        base = losses[0] if losses is not None else eval_loss(model, features, pad, batch_size)
        before = generate_batch(model, tokenizer, [p for p, _ in prompts], max_new_tokens)
    adapter = losses[1] if losses is not None else eval_loss(model, features, pad, batch_size)
    after = generate_batch(model, tokenizer, [p for p, _ in prompts], max_new_tokens)
    samples = [results.sample(p, ref, b, a) for (p, ref), b, a in zip(prompts, before, after, strict=True)]
    return {"base": base, "adapter": adapter, "samples": samples}
