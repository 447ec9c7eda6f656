"""Strict API input: every key a client sends is either applied or refused by name.

Every input serializer derives from `StrictInput`; views parse bodies with `valid_input`. A key the
serializer has no field for is refused ("Unknown field ..."), so is a key whose field is read-only
("read-only ..."). Nested serializers derive from `StrictInput` too, so keys inside `sources[0]`
are checked the same way. Nothing reaches a service before the whole body has been accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

UNKNOWN = "unknown_field"
READ_ONLY = "read_only"


def refused_keys(serializer: serializers.Serializer, data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field errors for the keys of `data` that `serializer` would not apply (empty when all are fine)."""
    writable = sorted(name for name, field in serializer.fields.items() if not field.read_only)
    read_only = {name for name, field in serializer.fields.items() if field.read_only}
    accepted = f"this endpoint accepts {', '.join(writable)}" if writable else "this endpoint takes no fields"
    errors: dict[str, list[str]] = {}
    for key in data:
        if key in read_only:
            errors[str(key)] = [f"read-only: {key!r} cannot be set here ({accepted})."]
        elif key not in writable:
            errors[str(key)] = [f"Unknown field {key!r}: {accepted}. Remove it and send again."]
    return errors


def _refusal(errors: dict[str, list[str]]) -> serializers.ValidationError:
    detail = {
        key: [serializers.ErrorDetail(message, code=READ_ONLY if message.startswith("read-only") else UNKNOWN)]
        for key, (message,) in errors.items()
    }
    return serializers.ValidationError(detail)


class StrictInput(serializers.Serializer):
    """Base class of every API input serializer: unknown and read-only keys are refused by name."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors = refused_keys(self, data)
            if errors:
                raise _refusal(errors)
        return super().to_internal_value(data)


class NoInput(StrictInput):
    """The body of an endpoint that takes no fields (cancel, merge, delete): any key is refused."""


def valid_input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The validated body; a 400 naming each field that is wrong, unknown or read-only otherwise."""
    if not isinstance(data, Mapping):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=data)
    # The top level is checked here too, so a serializer that forgot the base class is still strict.
    errors = refused_keys(serializer, data)
    if errors:
        raise _refusal(errors)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def refused_summary(errors: Any) -> str | None:
    """'Unknown field(s): a, b' for the top-level keys an error body refuses, else None."""
    if not isinstance(errors, dict):
        return None
    names = [
        key
        for key, problems in errors.items()
        if isinstance(problems, list) and any(getattr(p, "code", None) in (UNKNOWN, READ_ONLY) for p in problems)
    ]
    if not names:
        return None
    return f"Refused field(s): {', '.join(names)} (unknown or read-only); nothing was changed. See errors."
