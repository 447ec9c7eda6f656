"""Chat templates with `{% generation %}` markers: the text stays plain ChatML, and the template's own
assistant mask (what TRL's assistant_only_loss reads) equals the engine's prefix-rendering labels."""

from __future__ import annotations

import pytest

from training.engine.data import (
    IGNORE_INDEX,
    has_generation_markers,
    tokenize_by_spans,
    tokenize_by_template_mask,
    tokenize_conversation,
)
from training.engine.tiny import CHAT_TEMPLATE, toy_conversations

# The template the tiny models and the base-models page used before the markers: the rendering must not change.
PLAIN_CHATML = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

MULTI_TURN = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Where is the order?"},
    {"role": "assistant", "content": "The order ships on Monday."},
    {"role": "user", "content": "And the invoice?"},
    {"role": "assistant", "content": " The invoice arrives,\n\n42 days later! "},
    {"role": "user", "content": "Thanks."},
    {"role": "assistant", "content": '{"n": 3}'},
]


def conversations():
    return [MULTI_TURN, MULTI_TURN[1:5], *toy_conversations(24), *toy_conversations(6, seed=5, varied=True)]


def test_every_template_annotune_writes_has_markers_and_renders_plain_chatml(tokenizer):
    from training.services.base_model_probe import DEFAULT_CHAT_TEMPLATE

    assert DEFAULT_CHAT_TEMPLATE == CHAT_TEMPLATE
    assert tokenizer.chat_template == CHAT_TEMPLATE  # what build_tiny_model saved
    assert has_generation_markers(tokenizer)
    for conv in conversations():
        for prompt in (False, True):
            for upto in range(1, len(conv) + 1):
                ours = tokenizer.apply_chat_template(conv[:upto], tokenize=False, add_generation_prompt=prompt)
                plain = tokenizer.apply_chat_template(
                    conv[:upto], tokenize=False, add_generation_prompt=prompt, chat_template=PLAIN_CHATML
                )
                assert ours == plain


def test_template_mask_and_engine_spans_agree_token_for_token(tokenizer):
    for conv in conversations():
        by_template = tokenize_by_template_mask(tokenizer, conv)
        by_spans = tokenize_by_spans(tokenizer, conv)
        assert by_template == by_spans  # ids, labels and turn ranges
        assert tokenize_conversation(tokenizer, conv) == by_template
        assert len(by_template["turns"]) == sum(m["role"] == "assistant" for m in conv)
    learned = tokenize_conversation(tokenizer, MULTI_TURN)
    text = tokenizer.decode([t for t in learned["labels"] if t != IGNORE_INDEX])
    assert (
        text
        == 'The order ships on Monday.<|im_end|> The invoice arrives,\n\n42 days later! <|im_end|>{"n": 3}<|im_end|>'
    )


@pytest.fixture
def plain_tokenizer(tokenizer):
    import copy

    plain = copy.deepcopy(tokenizer)
    plain.chat_template = PLAIN_CHATML
    return plain


def test_a_template_without_markers_keeps_the_engine_method(tokenizer, plain_tokenizer):
    assert not has_generation_markers(plain_tokenizer)
    for conv in conversations()[:4]:
        assert tokenize_conversation(plain_tokenizer, conv) == tokenize_conversation(tokenizer, conv)
