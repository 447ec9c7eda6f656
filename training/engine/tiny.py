"""Tiny offline models: Llama / Mistral architectures with random weights and a locally trained tokenizer.

Nothing is downloaded. The tokenizer is a byte-level BPE trained with the `tokenizers` library on a small
built-in corpus, with ChatML-style special tokens and a chat template. The result is a folder that
`AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained` load offline, i.e. a base model
the platform can register like any other (see `describe_model`).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

# ChatML. The `{% generation %}` markers around each answer and its end-of-turn token are what
# `apply_chat_template(..., return_assistant_tokens_mask=True)` (and so TRL's `assistant_only_loss`) reads;
# they print nothing, so the text is that of plain ChatML.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "<|im_start|>", "<|im_end|>", "<unk>"]

# size -> (hidden, layers, heads, kv_heads, intermediate, min vocab)
SIZES: dict[str, tuple[int, int, int, int, int, int]] = {
    "test": (64, 2, 4, 2, 128, 0),
    # 688 is no multiple of 32 / 64: QLoRA keeps its MLP layers unquantised (quant_limits), keep it so.
    "small": (256, 4, 8, 4, 688, 2048),
    "bench": (768, 12, 12, 4, 2304, 8192),
    "large": (2048, 16, 16, 4, 5632, 8192),  # ~0.75B: where a base's weights outweigh the libraries
}
SIZE_NOTES = {"test": "~0.2M params", "small": "~4M", "bench": "~100M", "large": "~0.75B"}
ARCHITECTURES = ("llama", "mistral")
# The platform's default demo base model (what `make run` offers a new user).
DEFAULT_ARCH = "llama"
DEFAULT_SIZE = "small"

_SUBJECTS = [
    "the order",
    "my account",
    "the invoice",
    "a refund",
    "the parcel",
    "the password",
    "our plan",
    "the report",
    "this model",
    "the adapter",
    "the dataset",
    "a reviewer",
    "the warehouse",
    "your team",
]
_VERBS = ["arrives", "changes", "ships", "expires", "updates", "fails", "works", "returns", "improves", "starts"]
_TAILS = [
    "on Monday",
    "within three days",
    "after the review",
    "before noon",
    "every week",
    "next month",
    "when you ask",
    "in the morning",
    "at the end of the year",
    "without any delay",
]
_QUESTIONS = ["Where is", "How do I reset", "Can you explain", "When will", "Why did", "What happens to"]
_TEXT = (
    "Annotators write careful answers to questions. Reviewers approve the best ones and reject the rest. "
    "A small adapter learns the style of the approved answers. Training uses low rank matrices on top of a "
    "frozen base model, so it needs little memory and the adapter file stays small. "
    "Numbers like 1, 2, 3, 10, 42, 100 and 2024 appear in text, as do punctuation marks: commas, periods; "
    'colons, question marks? and exclamation marks! JSON looks like {"key": "value", "n": 3}. '
)


def corpus(n_lines: int = 3000, seed: int = 0) -> list[str]:
    """Deterministic English-like lines used to train the tokenizer (and handy as toy training data)."""
    rng = random.Random(seed)  # noqa: S311 - deterministic toy text
    lines = [_TEXT] * 20
    for _ in range(n_lines):
        q = rng.choice(_QUESTIONS)
        s, v, t = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_TAILS)
        lines.append(f"{q} {s}? {s.capitalize()} {v} {t}. Thanks, {rng.randint(1, 999)}!")
    return lines


def _train_tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(  # special tokens below are not passwords (S106)
        tokenizer_object=tok,
        bos_token="<s>",  # noqa: S106
        eos_token="<|im_end|>",  # noqa: S106
        pad_token="<pad>",  # noqa: S106
        unk_token="<unk>",  # noqa: S106
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    path: str | Path,
    arch: str = DEFAULT_ARCH,
    size: str = "test",
    *,
    seed: int = 0,
    tokenizer_vocab: int = 1000,
    dtype: str = "float32",
) -> dict[str, Any]:
    """Build a random-weight causal LM with tokenizer and chat template under `path`.

    arch: "llama" | "mistral"; size: "test" (~0.2M params, for unit tests) | "small" (~4M) | "bench" (~100M)
    | "large" (~0.75B, for the memory benchmark).
    dtype: storage dtype of the weights ("float32" or "bfloat16").
    Returns `describe_model(path)` (architecture, parameter_count, has_chat_template, ...).
    """
    import torch
    from transformers import AutoModelForCausalLM

    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, not {arch!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    tokenizer = _train_tokenizer(tokenizer_vocab)
    config = tiny_config(
        arch,
        size,
        tokenizer_vocab=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.to(getattr(torch, dtype))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return describe_model(out)


def tiny_config(
    arch: str = DEFAULT_ARCH,
    size: str = "test",
    *,
    tokenizer_vocab: int = 1000,
    bos_token_id: int = 1,
    eos_token_id: int = 3,
    pad_token_id: int = 0,
) -> Any:
    """The model config `build_tiny_model` uses (no weights): for planning and tests. The token ids'
    defaults are those of the built-in tokenizer (SPECIAL_TOKENS order)."""
    from transformers import LlamaConfig, MistralConfig

    hidden, layers, heads, kv_heads, inter, min_vocab = SIZES[size]
    vocab = max(tokenizer_vocab, min_vocab)
    vocab = (vocab + 63) // 64 * 64
    common: dict[str, Any] = dict(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        initializer_range=0.02,
        tie_word_embeddings=False,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )
    return MistralConfig(sliding_window=1024, **common) if arch == "mistral" else LlamaConfig(**common)


def describe_model(path: str | Path) -> dict[str, Any]:
    """Facts the platform stores on a base-model row, computed without loading weights.

    Returns {"architecture", "model_type", "parameter_count", "has_chat_template", "hidden_size",
    "num_layers", "vocab_size"}. Raises `ModelNotFoundError` when `path` holds no model config.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from .errors import ModelNotFoundError

    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"No model configuration found at {path}: {exc}") from exc
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    params = sum(p.numel() for p in model.parameters())
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        has_template = bool(getattr(tokenizer, "chat_template", None))
    except (OSError, ValueError):
        has_template = False
    archs = getattr(config, "architectures", None) or [type(model).__name__]
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return {
        "architecture": archs[0],
        "model_type": config.model_type,
        "parameter_count": int(params),
        "has_chat_template": has_template,
        "hidden_size": getattr(text_config, "hidden_size", None),
        "num_layers": getattr(text_config, "num_hidden_layers", None),
        "vocab_size": getattr(text_config, "vocab_size", None),
    }


def toy_conversations(n: int = 64, seed: int = 0, varied: bool = False) -> list[list[dict[str, str]]]:
    """Small repetitive support conversations (for tests, demos and benchmarks).

    With `varied=True` the answers have very different lengths (useful to measure packing).
    """
    rng = random.Random(seed)  # noqa: S311 - deterministic toy data
    out = []
    for i in itertools.islice(itertools.count(), n):
        s, v, t = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_TAILS)
        answer = f"{s.capitalize()} {v} {t}."
        if varied:
            answer = " ".join([answer] * rng.choice([1, 1, 1, 1, 2, 3, 5, 8]))  # long-tailed, like real answers
        conv = [
            {"role": "user", "content": f"{rng.choice(_QUESTIONS)} {s}? (ticket {i})"},
            {"role": "assistant", "content": answer},
        ]
        if i % 3 == 0:
            conv.insert(0, {"role": "system", "content": "You are a concise support agent."})
        out.append(conv)
    return out


def pretrain_tiny_model(
    path: str | Path,
    conversations: list[list[dict[str, str]]],
    *,
    steps: int = 300,
    learning_rate: float = 3e-3,
    batch_size: int = 16,
    max_seq_length: int = 128,
    seed: int = 0,
) -> float:
    """Give a random-weight tiny model some general knowledge: train every weight (plain language modelling on
    the rendered conversations, all tokens) and save it back in place. Returns the last batch's loss.

    A random base has tiny frozen output weights, so an adapter on it can barely move its predictions;
    after this the base behaves like a (very small) pretrained model, which is what the per-example loss
    and forgetting tests and benchmarks need.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .data import Collator, build_features

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    features, _ = build_features(tokenizer, conversations, max_seq_length)
    for f in features:
        f["labels"] = list(f["input_ids"])
    collate = Collator(tokenizer.pad_token_id)
    rng = random.Random(seed)  # noqa: S311 - deterministic batches
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        batch = collate(rng.sample(features, min(batch_size, len(features))))
        batch["labels"] = batch["labels"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    model.save_pretrained(str(path))
    return float(loss)


def planted_noise_conversations(
    n_clean: int = 60, noise_at: tuple[int, ...] = (5, 17, 29, 41, 53), seed: int = 3
) -> tuple[list[list[dict[str, str]]], tuple[int, ...]]:
    """`toy_conversations(n_clean)` with a corrupted answer inserted at each index of `noise_at`, broken
    the ways real data breaks: shuffled words (two), a contradiction, the wrong format (JSON, shouting
    snake case, cycling). Returns (conversations, noise indices) for per-example loss tests and benchmarks."""
    rng = random.Random(7)  # noqa: S311 - deterministic toy data
    data = toy_conversations(n_clean, seed=seed)
    for k, (at, conv) in enumerate(zip(noise_at, toy_conversations(len(noise_at), seed=11), strict=True)):
        words = conv[-1]["content"].rstrip(".").split()
        if k % 5 < 2:
            rng.shuffle(words)
            bad = " ".join(w.lower() for w in words) + " ,"
        elif k % 5 == 2:
            bad = f"No. Nothing ever {words[1]}, and nobody can tell you when."
        elif k % 5 == 3:
            bad = '{"status": "' + words[-1] + '", "code": 42}'
        else:
            bad = conv[-1]["content"].upper().replace(" ", "_")
        data.insert(at, [*conv[:-1], {"role": "assistant", "content": bad}])
    return data, tuple(noise_at)
