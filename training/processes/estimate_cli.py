"""Print the engine's memory / adapter-size estimate as JSON, in a process of its own.

The web process never imports torch, so the launch service runs this module as a subprocess:
    python -m training.processes.estimate_cli '{"model": "<path or hub id>", "config": {...}}'
Output: one JSON object, {"ok": true, "estimate": {...}} or {"ok": false, "code": ..., "message": ...}.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def answer(request: dict) -> dict:
    """The engine's estimate for {"model", "config"}: {"ok": true, "estimate": {...}} or {"ok": false, ...}.
    Imports torch: this module's process, or a worker / management command (estimates warm-up)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from training.engine.config import validate_config
    from training.engine.errors import EngineError
    from training.engine.estimate import estimate_memory

    try:
        config, errors = validate_config(request["config"])
        if config is None:
            return {"ok": False, "code": "invalid_config", "message": json.dumps(errors)}
        model = request["model"]
        if model.startswith(("/", ".", "~")) and not Path(model).expanduser().is_dir():
            return {"ok": False, "code": "model_not_found", "message": f"no model folder at {model}"}
        try:
            estimate = estimate_memory(
                model,
                method=config.method,
                rank=config.rank,
                target_modules=config.target_modules,
                batch_size=config.batch_size,
                max_seq_length=config.max_seq_length,
                gradient_checkpointing=config.gradient_checkpointing,
            )
        except (OSError, ValueError) as exc:
            return {"ok": False, "code": "model_not_found", "message": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "estimate": estimate.to_dict()}
    except EngineError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}


def main(argv: list[str]) -> int:
    print(json.dumps(answer(json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
