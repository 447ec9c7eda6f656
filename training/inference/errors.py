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
