"""Adapters for tests made in seconds without training: random non-zero LoRA weights on a tiny model."""

from __future__ import annotations

from pathlib import Path

CHAT = [{"role": "user", "content": "Where is the parcel?"}]


def build_base(path: Path, *, arch: str = "llama", size: str = "test", seed: int = 0) -> Path:
    from training.engine.tiny import build_tiny_model

    build_tiny_model(path, arch=arch, size=size, seed=seed)
    return path


def cached_base(*, arch: str = "llama", size: str = "test", seed: int = 0) -> Path:
    """A tiny base model built once per version of the builder and kept under var/test-cache/."""
    import hashlib
    import os
    import tempfile

    import training.engine.tiny as tiny

    root = Path(__file__).resolve().parents[2] / "var" / "test-cache"
    digest = hashlib.sha256(Path(tiny.__file__).read_bytes()).hexdigest()[:10]
    target = root / f"{arch}-{size}-{seed}-{digest}"
    if not (target / "config.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
        build_base(tmp / "m", arch=arch, size=size, seed=seed)
        try:
            os.replace(tmp / "m", target)
        except OSError:
            pass  # another run built it first
    return target


def random_adapter(
    base_path: Path,
    out_dir: Path,
    *,
    seed: int,
    rank: int = 4,
    targets: list[str] | None = None,
    use_dora: bool = False,
) -> Path:
    """A LoRA adapter with random A and B (`init_lora_weights=False`): it visibly changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=targets or ["q_proj", "v_proj"],
        init_lora_weights=False,
        use_dora=use_dora,
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():  # make the update large enough to change greedy answers
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(20.0)
    peft_model.save_pretrained(out_dir)
    (Path(out_dir) / "README.md").write_text(f"# Test adapter\n\nRandom LoRA weights, seed {seed}, rank {rank}.\n")
    return Path(out_dir)
