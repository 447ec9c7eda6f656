"""The error body every API operation documents: `{"detail", "errors"}`, as `errors.api_exception_handler`
writes it. Views list `ERRORS` in their schema's responses."""

from __future__ import annotations

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField()


# 429 (with Retry-After): a cap on work in flight (generations, queued training) or token throttling.
ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer, 429: ErrorSerializer}
