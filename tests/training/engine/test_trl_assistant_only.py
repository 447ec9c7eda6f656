"""TRL trains on Annotune's chat export with `assistant_only_loss=True`, learning the tokens the engine learns.

The export (chat-messages JSONL, as the export page writes it) is read with Hugging Face `datasets`, as a
user's script would; the tiny model's template carries `{% generation %}` markers, so TRL uses it as is.
"""

from __future__ import annotations

import pytest

from training.engine.data import IGNORE_INDEX, tokenize_conversation
from training.engine.tiny import toy_conversations

from .test_chat_masks import MULTI_TURN

pytestmark = pytest.mark.slow


def test_sft_trainer_assistant_only_loss_on_the_chat_export(llama_path, tokenizer, tmp_path):
    pytest.importorskip("trl", reason="TRL is a dev dependency (pip install -e '.[train,dev]')")
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    from curated_data.formats.rendering import render

    conversations = [MULTI_TURN, *toy_conversations(7)]
    path = tmp_path / "export.jsonl"
    rows = [(conv, "general", ["brief"], "") for conv in conversations]
    path.write_text("".join(render("messages", rows)), encoding="utf-8")
    dataset = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert dataset.column_names == ["messages", "category", "style_tags", "context"]

    model = AutoModelForCausalLM.from_pretrained(llama_path)
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        assistant_only_loss=True,
        max_steps=1,
        per_device_train_batch_size=4,
        max_length=128,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    assert trainer.chat_template is None  # the template already has markers: TRL keeps it
    assert is_chat_template_stop_token_trained(tokenizer)  # <|im_end|> is learned: the model learns to stop

    prepared = trainer.train_dataset
    assert len(prepared) == len(conversations)
    for row, conv in zip(prepared, conversations, strict=True):
        ours = tokenize_conversation(tokenizer, conv)
        assert row["input_ids"] == ours["input_ids"]
        assert row["labels"] == ours["labels"]  # TRL turns its assistant mask into labels: -100 elsewhere
        assert any(label != IGNORE_INDEX for label in row["labels"])

    outcome = trainer.train()
    assert outcome.global_step == 1
    assert outcome.training_loss == outcome.training_loss  # a number (not NaN): some tokens were learned
