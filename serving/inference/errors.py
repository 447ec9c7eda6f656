"""Errors of the serving code; each message says what is wrong and what to do."""

from __future__ import annotations


class InferenceError(Exception):
    """Base class: a request that cannot be served, with a message that can be shown to a user."""

    code = "inference_error"

    def __init__(self, message: str, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class AdapterFilesError(InferenceError):
    """An adapter (or base model) folder is missing or lacks its files."""

    code = "missing_files"


class BaseModelMismatchError(InferenceError):
    """The adapter was trained on another base model (its layers do not fit this one)."""

    code = "base_model_mismatch"


class IncompatibleAdaptersError(InferenceError):
    """Adapters that cannot be combined as asked (ranks, methods, targets, base models)."""

    code = "incompatible_adapters"


class BackendUnavailableError(InferenceError):
    """The serving backend (a vLLM server) cannot be reached or failed: the request may be retried."""

    code = "backend_unavailable"


class BackendModelNotFoundError(InferenceError):
    """The serving backend does not serve this model name (a base model or an adapter not loaded)."""

    code = "model_not_served"


class BackendRefusedError(InferenceError):
    """The serving backend refused the request (bad adapter files, a rank above its limit, ...)."""

    code = "backend_refused"


class AdapterNotServableError(InferenceError):
    """The selected backend cannot serve this kind of adapter (vLLM and DoRA)."""

    code = "adapter_not_servable"
