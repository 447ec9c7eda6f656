"""Base-model loading (4-bit NF4 for QLoRA, full precision for LoRA / DoRA) and the LoRA configuration."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import quant_limits, quantized
from .config import TrainConfig
from .distributed import local_rank, world_size
from .errors import ConfigError, ModelNotFoundError

ATTENTION_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "query", "key", "value", "Wqkv", "out_proj")
NEVER_TARGET = ("lm_head", "embed_out", "output_layer")

log = logging.getLogger(__name__)


def device_type() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def compute_dtype() -> Any:
    """bfloat16 on a CUDA device that supports it, else float32 (CPU, older GPUs)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def bnb_config(skip_modules: list[str] | None = None, *, sharded: bool = False) -> Any:
    """NF4 with double quantisation. `skip_modules` (full module names) stay in the compute dtype; it
    replaces transformers' default list, so it must name the output head too (see quant_limits).
    `sharded` (FSDP): the packed 4-bit values are stored in the compute dtype, because FSDP shards
    floating-point tensors only and flattens a module's parameters into one tensor of one dtype."""
    from transformers import BitsAndBytesConfig

    storage = {"bnb_4bit_quant_storage": compute_dtype()} if sharded else {}
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype(),
        llm_int8_skip_modules=skip_modules,
        **storage,
    )


def quantization_plan(path: str | Path, method: str) -> quant_limits.SkipPlan | None:
    """For "qlora": which linear layers stay unquantised because the 4-bit kernels cannot run their
    shape (from the config on the meta device, no weights); None for other methods."""
    if method != "qlora":
        return None
    try:
        return quant_limits.plan_for_path(path)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"Cannot read the configuration of {path}: {exc}") from exc


def _local_only(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.exists() and not (p / "config.json").is_file():
        raise ModelNotFoundError(f"{path} is not a model folder (no config.json)")
    return {"local_files_only": True}


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), **_local_only(path))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"Cannot load the tokenizer of {path}: {exc}") from exc
    if not getattr(tokenizer, "chat_template", None):
        raise ModelNotFoundError(f"The tokenizer of {path} has no chat template")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(
    path: str | Path,
    method: str,
    gradient_checkpointing: bool = False,
    quantized_cache_dir: str | None = None,
    skip_plan: quant_limits.SkipPlan | None = None,
    sharded: bool = False,
) -> Any:
    """Load the frozen base: 4-bit NF4 with double quantisation for "qlora", compute dtype otherwise.

    For QLoRA, linear layers whose shape the 4-bit kernels cannot run stay in the compute dtype
    (`skip_plan`, computed here when not given; see quant_limits) and a log line names them.
    With `quantized_cache_dir`, QLoRA loads the base's saved 4-bit copy, quantising and saving it
    first if there is none (see quantized.py). Under DDP each process loads it onto its own device;
    `sharded` (FSDP) leaves the placement to FSDP and stores the 4-bit values as FSDP needs them.
    """
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": compute_dtype(), **_local_only(path)}
    model = None
    key = None
    if method == "qlora":
        plan = skip_plan or quantization_plan(path, method)
        # Only a base with unsupported layers gets an explicit list (transformers' default otherwise).
        skip = plan.skip_modules if plan is not None and plan.unsupported else None
        if plan is not None and plan.unsupported:
            log.info(quant_limits.summary(plan.unsupported))
        if not sharded:
            kwargs["device_map"] = {"": local_rank()} if device_type() == "cuda" else {"": "cpu"}
        if quantized_cache_dir and Path(path).is_dir() and not sharded:
            key = quantized.cache_key(path, bnb_config(skip).to_dict())
            folder = quantized.cached_copy(quantized_cache_dir, key)
            model = quantized.load_cached(folder, kwargs) if folder else None
        kwargs["quantization_config"] = bnb_config(skip, sharded=sharded)
    if model is None:
        try:
            model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(f"Cannot load the base model {path}: {exc}") from exc
        if key is not None and quantized_cache_dir:
            quantized.save_copy(model, quantized_cache_dir, key)
    model.config.use_cache = False
    if method == "qlora" and not sharded:  # FSDP: its flat shards keep one dtype, no float32 up-cast
        from peft import prepare_model_for_kbit_training

        set_cpu_packed_inference(model, False)  # until training ends: see there

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return model


def set_cpu_packed_inference(model: Any, enabled: bool) -> int:
    """Allow (or stop) bitsandbytes' packed CPU inference kernel in the model's 4-bit layers; returns
    how many layers it applies to.

    On a CPU with AVX512-BF16, a 4-bit layer in eval mode without gradients repacks its weight for a
    faster inference kernel and keeps it packed. That kernel has no backward: once an evaluation
    during training has packed the weights, the next training steps backpropagate through it and
    the gradients reaching the layers below are silently wrong (torch warns "an autograd kernel was
    not registered"). So the base loads with it off and the job turns it on for the final
    evaluation and generations, after the last optimizer step.
    """
    count = 0
    available: bool | None = None
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            if available is None:
                from bitsandbytes.functional import has_avx512bf16

                available = bool(has_avx512bf16())
            module.support_avx512bf16_for_cpu = enabled and available
            count += 1
    return count


def linear_module_names(model: Any) -> list[str]:
    """Unique leaf names of the model's linear layers (plain or bitsandbytes 4-bit), head excluded."""
    import torch

    names = []
    for full, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            leaf = full.rsplit(".", 1)[-1]
            if leaf not in NEVER_TARGET and leaf not in names:
                names.append(leaf)
    return names


def resolve_target_modules(model: Any, spec: str | list[str]) -> list[str]:
    """Turn "attention" / "all-linear" / an explicit list into module names present in this model."""
    available = linear_module_names(model)
    if spec == "all-linear":
        chosen = available
    elif spec == "attention":
        chosen = [n for n in available if n in ATTENTION_NAMES]
    else:
        missing = [n for n in spec if n not in available]
        if missing:
            raise ConfigError(
                f"target modules not in this model: {', '.join(missing)} (available: {', '.join(available)})",
                {"errors": {"target_modules": f"unknown module(s): {', '.join(missing)}"}},
            )
        chosen = list(spec)
    if not chosen:
        raise ConfigError(
            f"no {spec} modules in this model (available: {', '.join(available)})",
            {"errors": {"target_modules": "matches no module of this model"}},
        )
    return chosen


def lora_config(cfg: TrainConfig, target_modules: list[str]) -> Any:
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=target_modules,
        use_dora=cfg.method == "dora",
        use_rslora=cfg.use_rslora,
        bias="none",
    )


def build_peft_model(
    path: str | Path,
    cfg: TrainConfig,
    quantized_cache_dir: str | None = None,
    skip_plan: quant_limits.SkipPlan | None = None,
) -> Any:
    """Base (quantised for QLoRA) + fresh adapter, trainable parameters = adapter only."""
    from peft import get_peft_model
    from transformers import set_seed

    set_seed(cfg.seed)
    sharded = cfg.distributed == "fsdp" and world_size() > 1
    base = load_base(path, cfg.method, cfg.gradient_checkpointing, quantized_cache_dir, skip_plan, sharded)
    targets = resolve_target_modules(base, cfg.target_modules)
    model = get_peft_model(base, lora_config(cfg, targets))
    # The adapter names the base the job named: PEFT would record the folder the base was read from,
    # for QLoRA a 4-bit copy in the cache (quantized.py), which loads nowhere else and has no tokenizer.
    for config in model.peft_config.values():
        config.base_model_name_or_path = str(path)
    return model


def load_for_evaluation(
    path: str | Path,
    cfg: TrainConfig,
    adapter_dir: str | Path,
    skip_plan: quant_limits.SkipPlan | None = None,
) -> Any:
    """The base as one process loads it, spread over every visible GPU ("auto"), with the saved adapter
    on top: what rank 0 evaluates after an FSDP run, whose model was a shard per device."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": compute_dtype(), **_local_only(path)}
    kwargs["device_map"] = "auto" if device_type() == "cuda" else {"": "cpu"}
    if cfg.method == "qlora":
        plan = skip_plan or quantization_plan(path, cfg.method)
        kwargs["quantization_config"] = bnb_config(plan.skip_modules if plan is not None and plan.unsupported else None)
    try:
        base = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"Cannot load the base model {path}: {exc}") from exc
    model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False)
    for config in model.peft_config.values():
        config.base_model_name_or_path = str(path)
    return model
