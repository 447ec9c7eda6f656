"""GGUF export: seconds and bytes per file, and how close llama.cpp's logits come to transformers / PEFT.

    .venv/bin/python benchmarks/bench_gguf_export.py --size small

Builds a tiny Llama of the given size (random weights) and a rank-16 LoRA on every linear layer, exports
the base, the adapter and the merged model (f16 and f32), then loads them with llama-cpp-python when it is
installed (its defaults: f16 KV cache, as a user's runtime runs) and reports the largest logit difference
and the cosine of the adapter's change. The test-suite's round trip uses an f32 KV cache and gets 1e-4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import emit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", help="tiny model size: test, small, bench, large")
    args = parser.parse_args()

    import numpy as np
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.serving.adapter_helpers import CHAT, random_adapter
    from training.engine.gguf_export import export_lora, export_model
    from training.engine.tiny import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as tmp:
        root = Path(tmp)
        base = root / "base"
        build_tiny_model(base, size=args.size)
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        adapter = random_adapter(base, root / "lora", seed=1, rank=16, targets=targets)
        jobs = {
            "base_f16": lambda: export_model(base, root / "base_f16.gguf", dtype="f16"),
            "base_f32": lambda: export_model(base, root / "base_f32.gguf", dtype="f32"),
            "lora": lambda: export_lora(adapter, base, root / "lora.gguf"),
            "merged_f16": lambda: export_model(base, root / "merged_f16.gguf", adapter_dir=adapter, dtype="f16"),
        }
        for name, job in jobs.items():
            start = time.perf_counter()
            info = job()
            emit(f"gguf_export_{name}_seconds", time.perf_counter() - start, "s", size=args.size)
            emit(f"gguf_export_{name}_bytes", info["size_bytes"], "bytes", size=args.size)

        try:
            import llama_cpp
        except ImportError:
            print("llama-cpp-python is not installed: no logit comparison", file=sys.stderr)
            return
        tokenizer = AutoTokenizer.from_pretrained(base)
        ids = [int(i) for i in tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, return_dict=False)]
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
        with torch.inference_mode():
            hf_base = model(input_ids=torch.tensor([ids])).logits[0].numpy()
            peft = PeftModel.from_pretrained(model, str(adapter)).eval()
            hf_lora = peft(input_ids=torch.tensor([ids])).logits[0].numpy()

        def cpp(model_file: str, lora: str | None = None) -> np.ndarray:
            options = {"lora_path": str(root / lora)} if lora else {}
            llm = llama_cpp.Llama(
                model_path=str(root / model_file), n_ctx=256, logits_all=True, verbose=False, **options
            )
            try:
                llm.eval(ids)
                return np.array(llm.scores[: len(ids)], dtype=np.float32)
            finally:
                llm.close()

        for dtype in ("f32", "f16"):
            base_logits = cpp(f"base_{dtype}.gguf")
            lora_logits = cpp(f"base_{dtype}.gguf", "lora.gguf")
            delta, hf_delta = (lora_logits - base_logits).ravel(), (hf_lora - hf_base).ravel()
            emit(f"llama_cpp_{dtype}_base_max_abs_diff", float(np.abs(base_logits - hf_base).max()), "logit")
            emit(f"llama_cpp_{dtype}_lora_max_abs_diff", float(np.abs(lora_logits - hf_lora).max()), "logit")
            cos = float(delta @ hf_delta / (np.linalg.norm(delta) * np.linalg.norm(hf_delta)))
            emit(f"llama_cpp_{dtype}_lora_delta_cosine", cos, "cosine")
        emit("adapter_change_max_abs", float(np.abs(hf_lora - hf_base).max()), "logit")
        merged = cpp("merged_f16.gguf")
        emit("llama_cpp_merged_f16_max_abs_diff", float(np.abs(merged - hf_lora).max()), "logit")


if __name__ == "__main__":
    main()
