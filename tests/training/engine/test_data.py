"""Chat rendering, assistant-only labels, truncation statistics and packing."""

from __future__ import annotations

import pytest

from training.engine.data import (
    IGNORE_INDEX,
    Collator,
    build_features,
    load_conversations,
    pack,
    split_validation,
    tokenize_conversation,
)
from training.engine.errors import DataError

CONV = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Where is the order?"},
    {"role": "assistant", "content": "The order ships on Monday."},
    {"role": "user", "content": "And the invoice?"},
    {"role": "assistant", "content": "The invoice arrives, 42 days later!"},
]


def labelled(tok, ids, labels):
    return [i for i, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]


def test_renders_with_the_chat_template(tokenizer):
    text = tokenizer.apply_chat_template(CONV, tokenize=False)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")
    out = tokenize_conversation(tokenizer, CONV)
    assert tokenizer.decode(out["input_ids"]) == text


def test_labels_are_exactly_assistant_answers_plus_end_token(tokenizer):
    out = tokenize_conversation(tokenizer, CONV)
    assert len(out["turns"]) == 2
    for (start, end), answer in zip(out["turns"], [CONV[2]["content"], CONV[4]["content"]], strict=True):
        assert tokenizer.decode(out["input_ids"][start:end]) == answer + "<|im_end|>"
    decoded = tokenizer.decode(labelled(tokenizer, out["input_ids"], out["labels"]))
    assert decoded == "The order ships on Monday.<|im_end|>The invoice arrives, 42 days later!<|im_end|>"
    # Nothing of the system / user turns or the role headers is learned.
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert im_start not in labelled(tokenizer, out["input_ids"], out["labels"])


def test_truncation_statistics(tokenizer):
    full = len(tokenize_conversation(tokenizer, CONV)["input_ids"])
    first_answer_end = tokenize_conversation(tokenizer, CONV)["turns"][0][1]
    limit = first_answer_end + 3  # keeps the first answer, cuts the second
    features, stats = build_features(tokenizer, [CONV, CONV[:3]], max_seq_length=limit)
    assert stats.examples == 2
    assert stats.truncated_examples == 1
    assert stats.tokens_lost == full - limit
    assert stats.assistant_turns == 3
    assert stats.assistant_turns_cut == 1
    assert stats.dropped_examples == 0
    assert all(len(f["input_ids"]) <= limit for f in features)

    _features, stats = build_features(tokenizer, [CONV], max_seq_length=8)  # no answer left at all
    assert stats.dropped_examples == 1


def test_packing_keeps_examples_whole_and_restarts_positions(tokenizer, conversations):
    plain, _ = build_features(tokenizer, conversations, 128)
    packed, _ = build_features(tokenizer, conversations, 128, packing=True)
    assert len(packed) < len(plain) / 1.5
    assert all(len(b["input_ids"]) <= 128 for b in packed)
    assert sum(len(b["input_ids"]) for b in packed) == sum(len(f["input_ids"]) for f in plain)
    assert sum(b["position_ids"].count(0) for b in packed) == len(plain)  # one restart per example


def test_packed_examples_do_not_attend_to_each_other(llama_path, tokenizer, conversations):
    """The logits of an example inside a packed block equal its logits when run alone."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(llama_path).eval()
    model.config.use_cache = False  # as in training (load_base); with a KV cache transformers skips the packed mask
    plain, _ = build_features(tokenizer, conversations[:2], 64)
    block = pack(plain, 128)
    assert len(block) == 1
    collate = Collator(tokenizer.pad_token_id)
    with torch.no_grad():
        packed_batch = collate(block)
        packed_batch.pop("labels")
        packed_logits = model(**packed_batch).logits[0]
        offset = 0
        for feature in plain:  # pack() keeps the original order inside a block
            n = len(feature["input_ids"])
            alone = model(input_ids=torch.tensor([feature["input_ids"]])).logits[0]
            torch.testing.assert_close(packed_logits[offset : offset + n], alone, atol=1e-4, rtol=1e-4)
            offset += n


def test_padding_batches_carry_an_attention_mask(tokenizer, conversations):
    features, _ = build_features(tokenizer, conversations[:3], 64)
    batch = Collator(tokenizer.pad_token_id)(features)
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    assert int(batch["attention_mask"].sum()) == sum(len(f["input_ids"]) for f in features)
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()


def test_jsonl_loading_and_bad_data(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n\n')
    assert load_conversations(path) == [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]]
    with pytest.raises(DataError, match="no assistant"):
        load_conversations([[{"role": "user", "content": "hi"}]])
    with pytest.raises(DataError, match="role"):
        load_conversations([[{"role": "bot", "content": "hi"}]])
    with pytest.raises(DataError, match="not found"):
        load_conversations(tmp_path / "missing.jsonl")


def test_validation_split_is_deterministic(conversations):
    a = split_validation(conversations, 0.2, seed=3)
    b = split_validation(conversations, 0.2, seed=3)
    assert a == b
    assert len(a[1]) == 8
    assert len(a[0]) + len(a[1]) == len(conversations)


def test_the_projects_system_prompt_goes_first_where_a_conversation_has_none():
    bare = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    own = [{"role": "system", "content": "Be brief."}, *bare]
    loaded = load_conversations([bare, {"messages": own}], system_prompt="You are Acme's assistant.")
    assert loaded[0] == [{"role": "system", "content": "You are Acme's assistant."}, *bare]
    assert loaded[1] == own  # a conversation's own system turn is kept as written
    assert load_conversations([bare]) == [bare]  # no project prompt: nothing added
