"""GGUF files for llama.cpp and Ollama, written with the `gguf` package: a model (the base, or the base with
an adapter merged in) and a LoRA adapter that llama.cpp applies on top of that base model file.

Rotary embeddings: Hugging Face Llama rotates the two halves of each head (x_i with x_{i+d/2}); llama.cpp
rotates neighbouring pairs (x_2i with x_2i+1). The two agree once the output rows of q_proj and k_proj are
reordered within each head (`_rope_rows`). A LoRA update B·A on q / k adds to those same rows, so its B is
reordered the same way; the adapter file fits only a base file written with this reordering (ours, or
llama.cpp's own converter, which does the same).

llama.cpp has no DoRA: its adapters are plain B·A·scale. A DoRA adapter is refused with the reason (its
merged model exports fine). Memory: the model is loaded in float32 before writing (as the merge does).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .errors import EngineError
from .gguf_vocab import GGUFVocab, read_vocab
from .local_runtimes import GGUFFile

# Hugging Face architectures whose weights map one to one onto llama.cpp's `llama` graph.
ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama"}
DTYPES = ("f32", "f16")
DORA_REASON = (
    "llama.cpp (and so Ollama) applies plain LoRA adapters only: DoRA's magnitude vectors rescale each "
    "weight column after the update, which a GGUF LoRA file cannot express. Use the merged model GGUF instead."
)
_PEFT_PREFIX = "base_model.model."


class GGUFExportError(EngineError):
    code = "gguf_export"


# -- model hyper-parameters ------------------------------------------------------------------------------
def _config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GGUFExportError(f"No config.json in {folder}: not a Hugging Face model folder.") from None
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in ARCHITECTURES:
        raise GGUFExportError(
            f"This export writes Llama and Mistral models only, not {arch}. "
            "Convert other architectures with llama.cpp's convert_hf_to_gguf.py."
        )
    return config


def _heads(config: dict[str, Any]) -> tuple[int, int, int]:
    """(query heads, key/value heads, head dimension)."""
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or config["hidden_size"] // heads)
    return heads, kv_heads, head_dim


def _rope_theta(config: dict[str, Any]) -> float:
    rope = config.get("rope_parameters") or {}
    rope_type = rope.get("rope_type") or (config.get("rope_scaling") or {}).get("rope_type") or "default"
    if rope_type != "default":
        raise GGUFExportError(f"RoPE scaling “{rope_type}” is not written by this export; only plain RoPE is.")
    return float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0)


def _add_hyper_parameters(writer: Any, config: dict[str, Any]) -> None:
    heads, kv_heads, head_dim = _heads(config)
    context = int(config.get("max_position_embeddings") or 2048)
    if config.get("sliding_window"):  # llama.cpp's llama graph attends to everything: stay inside the window
        context = min(context, int(config["sliding_window"]))
    writer.add_context_length(context)
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    if head_dim * heads != int(config["hidden_size"]):
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps") or 1e-6))
    writer.add_vocab_size(int(config["vocab_size"]))


def _add_vocab(writer: Any, vocab: GGUFVocab) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    for value, add in (
        (vocab.bos_id, writer.add_bos_token_id),
        (vocab.eos_id, writer.add_eos_token_id),
        (vocab.pad_id, writer.add_pad_token_id),
        (vocab.unk_id, writer.add_unk_token_id),
    ):
        if value is not None:
            add(value)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)


def chat_facts(model_dir: str | Path) -> tuple[str, list[str]]:
    """(chat template as written to the GGUF, stop strings) of a model folder, for the Ollama Modelfile."""
    folder = Path(model_dir)
    vocab = read_vocab(folder, int(_config(folder)["vocab_size"]))
    stop = [vocab.tokens[vocab.eos_id]] if vocab.eos_id is not None else []
    return vocab.chat_template, stop


# -- tensors ---------------------------------------------------------------------------------------------
def _rope_rows(matrix: Any, n_heads: int) -> Any:
    """Reorder the output rows of q_proj / k_proj (or of a LoRA B on them) from Hugging Face's half-split
    rotary layout to llama.cpp's interleaved one: within each head, rows (0, d/2, 1, d/2+1, …)."""
    import numpy as np

    head_dim = matrix.shape[0] // n_heads
    within = np.arange(head_dim).reshape(2, head_dim // 2).T.reshape(-1)
    order = (np.arange(n_heads)[:, None] * head_dim + within[None, :]).reshape(-1)
    return matrix[order]


def _rope_heads(module: str, config: dict[str, Any]) -> int | None:
    """How many heads to reorder the rows of `module` by (None: no reordering)."""
    heads, kv_heads, _ = _heads(config)
    if module.endswith("self_attn.q_proj"):
        return heads
    if module.endswith("self_attn.k_proj"):
        return kv_heads
    return None


def _name_map(config: dict[str, Any]) -> Any:
    import gguf

    return gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, int(config["num_hidden_layers"]))


def _gguf_name(names: Any, module: str) -> str:
    name = names.get_name(module)
    if name is None:
        raise GGUFExportError(f"llama.cpp's llama model has no tensor for “{module}”.")
    return name


def _write(writer: Any, out: Path) -> int:
    """Write the file under a temporary name and move it into place: never a half-written GGUF."""
    partial = out.with_name(out.name + ".partial")
    writer.path = partial
    try:
        writer.write_header_to_file(path=partial)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(partial, out)
    return out.stat().st_size


def _load_state_dict(model_dir: Path, adapter_dir: Path | None) -> dict[str, Any]:
    """The model's float32 weights, with the adapter merged in when one is given."""
    import torch
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True)
    if adapter_dir is not None:
        from peft import PeftModel

        try:
            peft_model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise GGUFExportError(f"The adapter does not fit the base model: {exc}") from exc
        model = peft_model.merge_and_unload(safe_merge=True)
    return {k: v.detach() for k, v in model.state_dict().items()}


def export_model(
    model_dir: str | Path,
    out_path: str | Path,
    *,
    adapter_dir: str | Path | None = None,
    dtype: str = "f16",
    name: str | None = None,
) -> GGUFFile:
    """Write the model in `model_dir` (with `adapter_dir` merged in, if given) as one GGUF file.

    dtype: "f32" (exact) or "f16" (half the size; 1-D norm weights stay f32, as llama.cpp expects).
    """
    import gguf
    import numpy as np
    import torch

    if dtype not in DTYPES:
        raise GGUFExportError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}.")
    model_dir, out = Path(model_dir), Path(out_path)
    config = _config(model_dir)
    vocab = read_vocab(model_dir, int(config["vocab_size"]))
    state = _load_state_dict(model_dir, Path(adapter_dir) if adapter_dir is not None else None)
    names = _name_map(config)
    writer = gguf.GGUFWriter(None, ARCHITECTURES[config["architectures"][0]])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name or model_dir.name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
    _add_hyper_parameters(writer, config)
    _add_vocab(writer, vocab)
    count = 0
    for key, tensor in state.items():
        if not key.endswith(".weight"):
            raise GGUFExportError(f"Unexpected tensor “{key}” (biases are not part of the llama graph).")
        module = key.removesuffix(".weight")
        array = tensor.to(torch.float32).numpy()
        heads = _rope_heads(module, config)
        if heads is not None:
            array = _rope_rows(array, heads)
        if dtype == "f16" and array.ndim > 1:
            array = array.astype(np.float16)
        writer.add_tensor(f"{_gguf_name(names, module)}.weight", np.ascontiguousarray(array))
        count += 1
    size = _write(writer, out)
    return {"file": out.name, "kind": "model", "dtype": dtype, "size_bytes": size, "tensors": count}


# -- LoRA adapter ----------------------------------------------------------------------------------------
def _pattern_value(pattern: dict[str, Any], module: str, default: Any) -> Any:
    """PEFT's rank_pattern / alpha_pattern lookup: a key matches a module name ending in it."""
    for key, value in (pattern or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def lora_refusal(adapter_config: dict[str, Any]) -> str:
    """Why llama.cpp cannot apply this adapter as a GGUF LoRA ("" when it can), from adapter_config.json."""
    if adapter_config.get("peft_type") != "LORA":
        return f"Only LoRA adapters have a GGUF adapter format, not {adapter_config.get('peft_type')}."
    if adapter_config.get("use_dora"):
        return DORA_REASON
    if adapter_config.get("bias", "none") != "none" or adapter_config.get("lora_bias"):
        return "The adapter trains biases; llama.cpp's LoRA adapters carry only the A and B matrices."
    return ""


def export_lora(
    adapter_dir: str | Path, base_dir: str | Path, out_path: str | Path, *, name: str | None = None
) -> GGUFFile:
    """Write a PEFT LoRA adapter as a GGUF LoRA adapter (float32 A / B) for the base model in `base_dir`.

    PEFT scales each update by alpha / r (alpha / √r with rsLoRA; per-module values under rank_pattern /
    alpha_pattern); llama.cpp by adapter.lora.alpha / r with r read from each B. The file's alpha is the
    adapter's default scale × its default rank, and a module whose scale differs gets the ratio folded into B.
    """
    import gguf
    import numpy as np
    import torch
    from safetensors.torch import load_file

    adapter_dir, out = Path(adapter_dir), Path(out_path)
    try:
        peft_config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError) as exc:
        raise GGUFExportError(f"The adapter's adapter_config.json cannot be read: {exc}") from exc
    refusal = lora_refusal(peft_config)
    if refusal:
        raise GGUFExportError(refusal)
    config = _config(Path(base_dir))
    weights_file = adapter_dir / "adapter_model.safetensors"
    if not weights_file.is_file():
        raise GGUFExportError("The adapter has no adapter_model.safetensors.")
    tensors = load_file(str(weights_file))
    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        match = re.fullmatch(r"(.+)\.lora_([AB])\.weight", key)
        if match is None:
            raise GGUFExportError(
                f"The adapter holds “{key}”, which is not a LoRA A / B matrix of a linear layer "
                "(trained embeddings, norms or saved modules have no GGUF LoRA form)."
            )
        module = match.group(1).removeprefix(_PEFT_PREFIX)
        pairs.setdefault(module, {})[match.group(2)] = tensor.to(torch.float32).numpy()
    if not pairs:
        raise GGUFExportError("The adapter holds no LoRA weights.")
    rank, alpha = int(peft_config["r"]), float(peft_config["lora_alpha"])
    rslora = bool(peft_config.get("use_rslora"))

    def scale(r: int, a: float) -> float:
        return a / (math.sqrt(r) if rslora else r)

    file_alpha = scale(rank, alpha) * rank
    names = _name_map(config)
    writer = gguf.GGUFWriter(None, ARCHITECTURES[config["architectures"][0]])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_name(name or adapter_dir.name)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, file_alpha)
    for module, pair in sorted(pairs.items()):
        if set(pair) != {"A", "B"}:
            raise GGUFExportError(f"The adapter's “{module}” lacks its lora_{'B' if 'A' in pair else 'A'} matrix.")
        a, b = pair["A"], pair["B"]
        r = a.shape[0]
        wanted = scale(r, float(_pattern_value(peft_config.get("alpha_pattern"), module, alpha)))
        ratio = wanted * r / file_alpha
        if not math.isclose(ratio, 1.0, rel_tol=1e-6):
            b = b * ratio
        heads = _rope_heads(module, config)
        if heads is not None:
            b = _rope_rows(b, heads)
        # A is (r, in) and B (out, r) in PEFT, i.e. ggml shapes [in, r] and [r, out]: what llama.cpp checks.
        target = _gguf_name(names, module)
        writer.add_tensor(f"{target}.weight.lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(f"{target}.weight.lora_b", np.ascontiguousarray(b, dtype=np.float32))
    size = _write(writer, out)
    return {"file": out.name, "kind": "adapter", "dtype": "f32", "size_bytes": size, "tensors": 2 * len(pairs)}
