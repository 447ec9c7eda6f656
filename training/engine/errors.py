"""Engine error types. Every failure the platform should show to a user is an `EngineError`."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: a training job failed for a reason that can be shown to the user.

    `code` is a short stable identifier the platform can store; `extra` carries details
    (for config errors, the field -> message mapping).
    """

    code = "engine_error"

    def __init__(self, message: str, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ConfigError(EngineError):
    """The training configuration is invalid (`extra["errors"]` maps field -> message)."""

    code = "invalid_config"


class ModelNotFoundError(EngineError):
    """The base model path does not exist or does not hold a loadable model."""

    code = "model_not_found"


class EmptyDatasetError(EngineError):
    """No usable training example (none given, or all lost their answers to truncation)."""

    code = "empty_dataset"


class DataError(EngineError):
    """A conversation is malformed (bad roles, missing content) or a data file cannot be read."""

    code = "invalid_data"


class OutOfMemoryError(EngineError):
    """The device ran out of memory; the message suggests what to lower."""

    code = "out_of_memory"
