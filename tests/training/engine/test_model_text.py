"""Model output never carries NUL into the database (PostgreSQL's text and JSON columns refuse it: one
such character in a random model's sample failed a training job at its last step)."""

from __future__ import annotations

import re
from pathlib import Path

from training.engine.model_text import model_text

ROOT = Path(__file__).resolve().parents[3]


def test_nul_is_dropped_and_nothing_else_changes():
    assert model_text("Order\x00 4\x00\x00 ships.\n— Acme") == "Order 4 ships.\n— Acme"
    assert model_text("") == ""


def test_every_decode_of_model_tokens_goes_through_it():
    unguarded = []
    for path in (ROOT / "training").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"tokenizer\.decode\(", line) and "model_text(" not in line:
                unguarded.append(f"{path.relative_to(ROOT)}:{number}")
    assert unguarded == []
