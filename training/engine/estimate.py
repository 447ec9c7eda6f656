"""Memory and adapter-size estimate from a model config, on the meta device (no weights are loaded).

The figures are planning numbers for a GPU run, not measurements:
- base weights: linear layers (except the LM head) at 4 bits + NF4 quantisation state for QLoRA
  (absmax per 64-value block; with double quantisation stored as 8 bits + a float32 per 256 blocks),
  everything else at `dtype_bytes` (2 for bf16);
- adapter: r * (in + out) per targeted linear layer (+ `out` magnitudes for DoRA), float32 on disk and in
  memory; gradients (4 bytes) and AdamW states (8 bytes) per trainable parameter;
- activations: ~34 * batch * seq * hidden bytes per layer at 16 bits (attention with a fused kernel, no
  seq^2 term), ~2 * batch * seq * hidden per layer plus one full layer with gradient checkpointing, plus the
  float32 logits and their gradient (batch * seq * vocab * 8);
- a fixed runtime overhead (CUDA context, allocator slack).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .model import ATTENTION_NAMES, NEVER_TARGET

NF4_BITS = 4.0
QUANT_STATE_BITS_DOUBLE = 8 / 64 + 32 / (64 * 256)
QUANT_STATE_BITS_SINGLE = 32 / 64
RUNTIME_OVERHEAD_BYTES = 1_000_000_000
SAFETY = 1.1


@dataclass
class Estimate:
    method: str
    base_parameters: int
    base_checkpoint_bytes: int  # the base at dtype_bytes (what a 16-bit checkpoint weighs)
    base_weights_bytes: int  # in memory for this method
    adapter_parameters: int
    adapter_file_bytes: int
    adapter_to_base_ratio: float  # adapter file / base checkpoint
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    overhead_bytes: int
    total_bytes: int
    target_modules: list[str]

    def fits(self, device_memory_bytes: int) -> bool:
        """True when the estimate plus a 10% margin fits into `device_memory_bytes`."""
        return self.total_bytes * SAFETY <= device_memory_bytes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _meta_model(config: Any) -> Any:
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        return AutoModelForCausalLM.from_config(config)


def estimate_memory(
    config: Any,
    *,
    method: str = "qlora",
    rank: int = 16,
    target_modules: str | list[str] = "attention",
    batch_size: int = 4,
    max_seq_length: int = 1024,
    gradient_checkpointing: bool = False,
    double_quant: bool = True,
    dtype_bytes: int = 2,
) -> Estimate:
    """Estimate training memory and adapter size. `config` is a transformers config or a model folder path."""
    import torch
    from transformers import AutoConfig

    if isinstance(config, str | Path):
        config = AutoConfig.from_pretrained(str(config), local_files_only=True)
    model = _meta_model(config)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    linear: list[tuple[str, int, int]] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            linear.append((name.rsplit(".", 1)[-1], module.in_features, module.out_features))
    total_params = sum(p.numel() for p in model.parameters())
    quantised = sum(i * o for leaf, i, o in linear if leaf not in NEVER_TARGET)
    leaves = sorted({leaf for leaf, _i, _o in linear if leaf not in NEVER_TARGET})
    if target_modules == "all-linear":
        targets = leaves
    elif target_modules == "attention":
        targets = [n for n in leaves if n in ATTENTION_NAMES]
    else:
        targets = list(target_modules)
    adapter = 0
    for leaf, i, o in linear:
        if leaf in targets and leaf not in NEVER_TARGET:
            adapter += rank * (i + o) + (o if method == "dora" else 0)
    checkpoint_bytes = total_params * dtype_bytes
    if method == "qlora":
        state_bits = QUANT_STATE_BITS_DOUBLE if double_quant else QUANT_STATE_BITS_SINGLE
        base_bytes = int(quantised * (NF4_BITS + state_bits) / 8 + (total_params - quantised) * dtype_bytes)
    else:
        base_bytes = checkpoint_bytes
    hidden, layers, vocab = text.hidden_size, text.num_hidden_layers, text.vocab_size
    tokens = batch_size * max_seq_length
    per_layer = (2 if gradient_checkpointing else 34) * tokens * hidden
    activations = per_layer * layers + (34 * tokens * hidden if gradient_checkpointing else 0) + tokens * vocab * 8
    adapter_file = adapter * 4
    parts = dict(
        base_weights_bytes=base_bytes,
        gradients_bytes=adapter * 4,
        optimizer_bytes=adapter * 8,
        activations_bytes=int(activations),
        overhead_bytes=RUNTIME_OVERHEAD_BYTES,
    )
    return Estimate(
        method=method,
        base_parameters=int(total_params),
        base_checkpoint_bytes=int(checkpoint_bytes),
        adapter_parameters=int(adapter),
        adapter_file_bytes=int(adapter_file),
        adapter_to_base_ratio=adapter_file / checkpoint_bytes,
        total_bytes=int(sum(parts.values()) + adapter_file),
        target_modules=targets,
        **parts,
    )


def llama3_8b_config() -> Any:
    """A LlamaConfig with Llama-3-8B dimensions (no download), for estimates and tests."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=8192,
        tie_word_embeddings=False,
    )
