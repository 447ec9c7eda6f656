"""Annotune training engine: pure ML code, no Django. Importing this package is cheap (no torch import);
the heavy libraries load on first use of a function that needs them.

Entry points for the platform
-----------------------------
run_job(spec: JobSpec, on_progress: Callable[[dict], None], should_stop: Callable[[], bool]) -> JobResult
    Validate the config, train (resuming from `<output_dir>/checkpoints`), evaluate base vs adapter, save
    the adapter + model card to `<output_dir>/adapter`, return metrics. Run it in a child process.
    Progress dict keys: PROGRESS_KEYS (event, step, max_steps, epoch, loss, learning_rate, grad_norm,
    tokens_seen, tokens_per_second, elapsed_seconds, eta_seconds, eval_loss); missing values are None.
JobSpec(base_model_path, train_examples, output_dir, config={}, validation_examples=None, dataset_hash="",
        n_samples=5, max_new_tokens=128, quantized_cache_dir=None, example_categories=None, behaviour=True,
        behaviour_time_share=0.5, ...)
    With quantized_cache_dir, QLoRA quantises a base once and later jobs load its 4-bit copy (quantized.py).
    With behaviour, base and adapter answer the validation prompts and a control sample greedily after
    training (behaviour.py), within behaviour_time_share of the training time; the samples are the first
    n_samples of those answers.
JobResult(cancelled, adapter_dir, adapter_size_bytes, metrics, samples, truncation, package_versions,
          config, loss_history, eval_history, model_card_path, target_modules, kept_unquantized,
          example_scores, forgetting, behaviour);
    `.to_dict()` is JSON-safe. kept_unquantized: QLoRA layers left in the compute dtype because the 4-bit
    kernels cannot run their shape (quant_limits; logged by training.engine.model at load).

Configuration: config_schema() -> JSON Schema (with "x-presets"); validate_config(dict) -> (TrainConfig | None,
    {field: message}); preset(name) -> full config dict; PRESETS, default_config().
Base models: build_tiny_model(path, arch="llama"|"mistral", size="test"|"small"|"bench"|"large")
    -> describe_model(path) (tiny.DEFAULT_ARCH / DEFAULT_SIZE: the platform's demo base; tiny_config(arch,
    size): its config, no weights);
    describe_model(path) -> {architecture, model_type, parameter_count, has_chat_template, hidden_size,
    num_layers, vocab_size} (config on the meta device, no weights loaded).
Planning: estimate_memory(config_or_path, method=, rank=, target_modules=, batch_size=, max_seq_length=,
    gradient_checkpointing=) -> Estimate (numbers, .to_dict(), .fits(device_memory_bytes)).
Artifacts: zip_folder(folder, zip_path), package_versions().
Local runtimes (gguf_export): export_model(model_dir, out, adapter_dir=None, dtype="f16"|"f32") and
    export_lora(adapter_dir, base_dir, out) write GGUF files for llama.cpp / Ollama (GGUFExportError says why
    not, e.g. DoRA); local_runtimes: the export record, Ollama Modelfile and llama-server line.
Errors: EngineError(message, extra) with `.code`; ConfigError (extra["errors"] = {field: message}),
    ModelNotFoundError, EmptyDatasetError, DataError, OutOfMemoryError.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .config import PRESETS, TrainConfig, config_schema, default_config, preset, validate_config
from .errors import ConfigError, DataError, EmptyDatasetError, EngineError, ModelNotFoundError, OutOfMemoryError

_LAZY = {
    "run_job": "run",
    "JobSpec": "run",
    "JobResult": "run",
    "PROGRESS_KEYS": "trainer",
    "build_tiny_model": "tiny",
    "describe_model": "tiny",
    "toy_conversations": "tiny",
    "estimate_memory": "estimate",
    "Estimate": "estimate",
    "llama3_8b_config": "estimate",
    "zip_folder": "artifacts",
    "package_versions": "artifacts",
}

__all__ = [
    "PRESETS",
    "ConfigError",
    "DataError",
    "EmptyDatasetError",
    "EngineError",
    "ModelNotFoundError",
    "OutOfMemoryError",
    "TrainConfig",
    "config_schema",
    "default_config",
    "preset",
    "validate_config",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
