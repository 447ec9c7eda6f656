"""Keep each base model loaded once and switch adapters on it per request.

One `BaseModelCache` lives in an inference worker process. The first request for a base model loads
it (full precision by default); a QLoRA adapter is served on the base quantised as it was trained
(`quantized=True`: NF4 with the engine's own settings), because NF4 rounding changes the base's answers
and the adapter learned to correct the rounded base, not the full-precision one. Adapters are attached with
`PeftModel.load_adapter` under a name the caller chooses (e.g. `adapter-17`), activated with `set_adapter`,
and the least recently used ones are removed with `delete_adapter` beyond `max_adapters` per base.
The base model alone is served with the adapters disabled (`disable_adapter()`), so it costs no reload either.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.engine.model_text import model_text

from .errors import AdapterFilesError, BaseModelMismatchError, InferenceError
from .files import adapter_config, check_fits_base, check_model_folder


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    adapter: str | None


@dataclass
class _Loaded:
    path: str
    model: Any  # a transformers model; replaced by the PeftModel wrapping it once an adapter is attached
    tokenizer: Any
    adapters: OrderedDict[str, str] = field(default_factory=OrderedDict)  # name -> folder, LRU order
    loaded_at: float = 0.0
    # The LoRA layers of the model, for switching without walking every module (None: use peft's set_adapter).
    tuner_layers: list[Any] | None = None

    def refresh_layers(self) -> None:
        """Find the adapter layers again (after an adapter was loaded or deleted).

        The fast switch only sets which adapter each layer uses. That is all `set_adapter` does for
        frozen adapters without extra trainable modules; adapters that carry `modules_to_save` or
        trainable tokens keep peft's own (slower) `set_adapter`.
        """
        from peft.tuners.tuners_utils import BaseTunerLayer

        configs = self.model.peft_config.values()
        if any(getattr(c, "modules_to_save", None) or getattr(c, "trainable_token_indices", None) for c in configs):
            self.tuner_layers = None
        else:
            self.tuner_layers = [m for m in self.model.modules() if isinstance(m, BaseTunerLayer)]


def load_base(
    path: str, *, dtype: str = "float32", device: str | None = None, quantized: bool = False
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer in eval mode: in the given precision, or (`quantized`) 4-bit NF4
    exactly as the engine quantises a QLoRA job's base (same settings, same layers left unquantised)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_folder(path)
    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
    if quantized:
        from training.engine.model import bnb_config, compute_dtype, quantization_plan

        plan = quantization_plan(path, "qlora")
        skip = plan.skip_modules if plan is not None and plan.unsupported else None
        place = device or ("cuda:0" if torch.cuda.is_available() else "cpu")
        kwargs = {"dtype": compute_dtype(), "quantization_config": bnb_config(skip), "device_map": {"": place}}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise AdapterFilesError(f"The base model at {path} could not be loaded: {exc}") from exc
    if quantized:
        from training.engine.model import set_cpu_packed_inference

        set_cpu_packed_inference(model, True)  # inference only: the faster packed kernel is safe here
    elif device:
        model.to(device)
    model.eval()
    return model, tokenizer


def cache_key(base_path: str | Path, quantized: bool = False) -> str:
    """One cache entry per base folder and precision: a QLoRA adapter's base is the 4-bit one."""
    return f"{base_path}#nf4" if quantized else str(base_path)


class BaseModelCache:
    """Base models kept in memory, each wearing up to `max_adapters` adapters (LRU)."""

    def __init__(self, *, max_adapters: int = 8, max_bases: int = 2, dtype: str = "float32", device: str | None = None):
        if max_adapters < 1 or max_bases < 1:
            raise ValueError("max_adapters and max_bases must be at least 1")
        self.max_adapters = max_adapters
        self.max_bases = max_bases
        self.dtype = dtype
        self.device = device
        self._bases: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.RLock()

    # -- loading ---------------------------------------------------------------------------------
    def base(self, base_path: str | Path, quantized: bool = False) -> _Loaded:
        """The loaded base model (loaded on first use; least recently used bases beyond max_bases dropped)."""
        key = cache_key(base_path, quantized)
        with self._lock:
            if key in self._bases:
                self._bases.move_to_end(key)
                return self._bases[key]
            model, tokenizer = load_base(str(base_path), dtype=self.dtype, device=self.device, quantized=quantized)
            self._bases[key] = _Loaded(path=str(base_path), model=model, tokenizer=tokenizer, loaded_at=time.time())
            while len(self._bases) > self.max_bases:
                self._bases.popitem(last=False)
            return self._bases[key]

    def loaded_adapters(self, base_path: str | Path, quantized: bool = False) -> list[str]:
        """Names of the adapters attached to that base, least recently used first."""
        loaded = self._bases.get(cache_key(base_path, quantized))
        return list(loaded.adapters) if loaded else []

    def attach(self, base_path: str | Path, name: str, adapter_path: str | Path, quantized: bool = False) -> _Loaded:
        """Make sure adapter `name` (files at `adapter_path`) is attached to the base and is the active one."""
        from peft import PeftModel

        with self._lock:
            loaded = self.base(base_path, quantized)
            if name in loaded.adapters:
                loaded.adapters.move_to_end(name)
                self._activate(loaded, name)
                return loaded
            adapter_config(adapter_path)  # clear error for missing files
            check_fits_base(loaded.model, adapter_path, base_label=str(base_path))
            try:
                if isinstance(loaded.model, PeftModel):
                    loaded.model.load_adapter(str(adapter_path), adapter_name=name, is_trainable=False)
                else:
                    loaded.model = PeftModel.from_pretrained(
                        loaded.model, str(adapter_path), adapter_name=name, is_trainable=False
                    )
            except (RuntimeError, ValueError) as exc:
                raise BaseModelMismatchError(
                    f"The adapter at {adapter_path} does not fit the base model {base_path}: {exc}"
                ) from exc
            loaded.model.eval()
            loaded.adapters[name] = str(adapter_path)
            loaded.model.set_adapter(name, inference_mode=True)
            while len(loaded.adapters) > self.max_adapters:
                evicted, _ = loaded.adapters.popitem(last=False)
                loaded.model.delete_adapter(evicted)
            loaded.refresh_layers()
            return loaded

    def activate(self, base_path: str | Path, name: str, quantized: bool = False) -> None:
        """Switch the active adapter of a base to one already attached (the instant path)."""
        with self._lock:
            loaded = self._bases.get(cache_key(base_path, quantized))
            if loaded is None:
                raise InferenceError(f"Adapter {name!r} is not loaded on {base_path}.")
            if name not in loaded.adapters:
                raise InferenceError(f"Adapter {name!r} is not loaded on {base_path}.")
            loaded.adapters.move_to_end(name)
            self._activate(loaded, name)

    @staticmethod
    def _activate(loaded: _Loaded, name: str) -> None:
        model = loaded.model
        if model.active_adapter == name:
            return
        if loaded.tuner_layers is None:
            model.set_adapter(name, inference_mode=True)
            return
        for layer in loaded.tuner_layers:  # what BaseTunerLayer.set_adapter does for a frozen adapter
            layer._active_adapter = [name]
        model.base_model.active_adapter = name  # the tuner (LoraModel) ...
        model.active_adapter = name  # ... and the PeftModel each keep the name

    # -- generation ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def serving(
        self,
        base_path: str | Path,
        *,
        adapter_name: str | None = None,
        adapter_path: str | Path | None = None,
        quantized: bool = False,
    ) -> Iterator[tuple[Any, Any]]:
        """`(model, tokenizer)` ready to answer as the base (adapter_name None) or as one adapter
        (`quantized`: a QLoRA adapter, on the 4-bit base it was trained against).

        The cache's lock is held for the whole block (one generation at a time per process); for the
        base alone the adapters are disabled inside the block.
        """
        with self._lock:
            if adapter_name is None:
                loaded = self.base(base_path, quantized)
            elif adapter_path is None:
                self.activate(base_path, adapter_name, quantized)
                loaded = self._bases[cache_key(base_path, quantized)]
            else:
                loaded = self.attach(base_path, adapter_name, adapter_path, quantized)
            model, tokenizer = loaded.model, loaded.tokenizer
            disabled = model.disable_adapter() if adapter_name is None and hasattr(model, "disable_adapter") else None
            with disabled or contextlib.nullcontext():
                yield model, tokenizer

    def generate(
        self,
        base_path: str | Path,
        messages: list[dict[str, str]],
        *,
        adapter_name: str | None = None,
        adapter_path: str | Path | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        quantized: bool = False,
    ) -> GenerationResult:
        """Answer a conversation with the base model (adapter_name None) or with one adapter.

        The prompt is the tokenizer's chat template with the generation prompt added. temperature 0
        means greedy decoding; otherwise sampling with temperature and top-p, seeded by `seed`.
        """
        with self.serving(base_path, adapter_name=adapter_name, adapter_path=adapter_path, quantized=quantized) as (
            model,
            tokenizer,
        ):
            return _generate(
                model,
                tokenizer,
                messages,
                adapter=adapter_name,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
            )


def render_prompt(tokenizer, messages: list[dict[str, str]]):
    """Token ids (1 × n tensor) of the conversation with the assistant's turn opened."""
    if not getattr(tokenizer, "chat_template", None):
        raise InferenceError("The base model's tokenizer has no chat template; it cannot answer conversations.")
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    return encoded["input_ids"]


def sampling_options(tokenizer, *, max_new_tokens: int, temperature: float, top_p: float) -> dict[str, Any]:
    """`generate` keyword arguments: greedy for temperature 0, else sampling with temperature and top-p."""
    sample = temperature > 0
    options: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "do_sample": sample,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    }
    if sample:
        options.update(temperature=temperature, top_p=top_p)
    else:
        options.update(temperature=None, top_p=None, top_k=None)
    return options


def _generate(model, tokenizer, messages, *, adapter, max_new_tokens, temperature, top_p, seed) -> GenerationResult:
    import torch

    input_ids = render_prompt(tokenizer, messages).to(model.device)
    options = sampling_options(tokenizer, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    torch.manual_seed(seed)
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **options)
    seconds = time.perf_counter() - started
    new = output[0, input_ids.shape[1] :]
    return GenerationResult(
        text=model_text(tokenizer.decode(new, skip_special_tokens=True)),
        prompt_tokens=int(input_ids.shape[1]),
        new_tokens=int(new.shape[0]),
        seconds=seconds,
        adapter=adapter,
    )
