"""Pieces every API module shares: the error body and input parsing (strict: see annotune.serializers)."""

from __future__ import annotations

from rest_framework import serializers

from annotune.serializers import NoInput, StrictInput, valid_input

__all__ = ["ERRORS", "ErrorSerializer", "NoInput", "StrictInput", "valid_input"]


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField()


# 429 (with Retry-After): a cap on work in flight (generations, queued training) or token throttling.
ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer, 429: ErrorSerializer}
