"""The engine's loss runs the output head only where the loss reads it (trainer.head_loss, EngineTrainer), and
trains exactly what the model's own loss trains: same loss, same gradients, same run."""

from __future__ import annotations

import pytest

from training.engine.config import validate_config
from training.engine.data import IGNORE_INDEX, Collator, build_features
from training.engine.tiny import toy_conversations
from training.engine.trainer import answer_positions, head_loss

from .conftest import FAST


def lora_model(path, **config):
    from training.engine.model import build_peft_model

    cfg, errors = validate_config({**FAST, "method": "lora", "dropout": 0.0, **config})
    assert cfg is not None, errors
    model = build_peft_model(path, cfg)
    import torch

    with torch.no_grad():  # a trained adapter (B = 0 at init would leave A's gradients at zero)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    model.train()
    return model, cfg


def batch(tokenizer, packing=False):
    features, _ = build_features(tokenizer, toy_conversations(12, varied=True), 128, packing=packing)
    return Collator(tokenizer.pad_token_id)(features[:4])


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_answer_positions_are_the_positions_whose_next_token_is_labelled():
    import torch

    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 5, 6, IGNORE_INDEX], [IGNORE_INDEX, 7, IGNORE_INDEX, 8, 9]])
    keep, targets = answer_positions(labels)
    assert keep.tolist() == [[False, True, True, False, False], [True, False, True, True, False]]
    assert targets.tolist() == [5, 6, 7, 8, 9]  # row by row, as hidden_states[keep] lists the positions


@pytest.mark.parametrize("packing", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("arch", ["llama", "mistral"])
def test_same_loss_and_gradients_as_the_models_own_loss(arch, packing, llama_path, mistral_path):
    import torch

    from training.engine.model import load_tokenizer

    path = llama_path if arch == "llama" else mistral_path
    model, _cfg = lora_model(path)
    inputs = batch(load_tokenizer(path), packing)
    if not packing:
        assert (inputs["attention_mask"] == 0).any()  # padding in the batch: no logits are needed there
    count = (inputs["labels"][:, 1:] != IGNORE_INDEX).sum()
    for num_items in (count, None):  # the Trainer's token count (sum / count), or none (the mean)
        extra = {} if num_items is None else {"num_items_in_batch": num_items}
        reference = model(**inputs, **extra).loss
        reference.backward()
        expected = grads(model)
        model.zero_grad(set_to_none=True)

        loss = head_loss(model, inputs, num_items, check=True)
        assert loss is not None
        loss.backward()
        got = grads(model)
        model.zero_grad(set_to_none=True)

        torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
        assert got.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-7, msg=name)
        assert any(g.abs().sum() > 0 for g in got.values())


def test_a_forward_that_ignores_the_mask_is_refused(llama_path, tokenizer):
    import torch

    model, _cfg = lora_model(llama_path)

    class IgnoresMask(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, logits_to_keep=None, **inputs):
            return self.inner(**inputs)  # logits for every position

    assert head_loss(IgnoresMask(model), batch(tokenizer), None, check=True) is None


@pytest.mark.slow
def test_a_run_trains_what_the_plain_trainer_trains(llama_path, tokenizer, tmp_path):
    """Three optimizer steps with the engine's Trainer and with transformers' own, same seed and data: the
    engine took the short path and logged the same losses."""
    from transformers import PrinterCallback, Trainer

    from training.engine.trainer import _trainer_class, planned_steps, training_arguments

    features, _ = build_features(tokenizer, toy_conversations(24, varied=True), 128)
    histories = {}
    for name, cls in (("engine", _trainer_class()), ("plain", Trainer)):
        model, cfg = lora_model(llama_path, max_steps=3, learning_rate=1e-2, logging_steps=1, dropout=0.1)
        trainer = cls(
            model=model,
            args=training_arguments(cfg, tmp_path / name, False, planned_steps(cfg, len(features))),
            train_dataset=features,
            data_collator=Collator(tokenizer.pad_token_id),
            processing_class=tokenizer,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        histories[name] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        if name == "engine":
            assert trainer.compact_head is True
    assert len(histories["engine"]) == 3
    assert histories["engine"] == pytest.approx(histories["plain"], rel=1e-4)
