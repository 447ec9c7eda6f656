"""TRL's own checks of a preference export, run in a child process as a user's DPO script would run them
(the test process stays free of torch): the file loads with `datasets`, every row is a conversational
preference example that TRL's chat-template step renders, and `DPOTrainer` tokenises every row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TRL_PREFERENCE_CHECK = """
import json, sys
from datasets import load_dataset
from transformers import AutoTokenizer
from trl import DPOConfig, DPOTrainer
from trl.data_utils import is_conversational, maybe_apply_chat_template
from training.engine.tiny import build_tiny_model
build_tiny_model(sys.argv[2], size="test")
tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
data = load_dataset("json", data_files=sys.argv[1], split="train")
conversational = sum(is_conversational(row) for row in data)
rendered = 0
for row in data:
    out = maybe_apply_chat_template(row, tokenizer)
    assert all(isinstance(out[k], str) and out[k] for k in ("prompt", "chosen", "rejected")), out
    rendered += 1
args = DPOConfig(output_dir=sys.argv[3], max_length=512, report_to=[], use_cpu=True)
trainer = DPOTrainer(model=sys.argv[2], args=args, train_dataset=data, processing_class=tokenizer)
tokenized = sum(bool(r["prompt_ids"] and r["chosen_ids"] and r["rejected_ids"]) for r in trainer.train_dataset)
print(json.dumps({"rows": len(data), "conversational": conversational, "rendered": rendered, "tokenized": tokenized}))
"""


def trl_check(path: Path, work: Path) -> dict:
    """What TRL made of the JSON-lines file at `path` (`work`: a folder for the tiny model and trainer)."""
    checked = subprocess.run(
        [sys.executable, "-c", TRL_PREFERENCE_CHECK, str(path), str(work / "tiny"), str(work / "dpo")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    return json.loads(checked.stdout.strip().splitlines()[-1])
