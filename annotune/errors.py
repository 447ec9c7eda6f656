"""One domain error type, turned into HTTP responses in one place (API handler, page middleware)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import render
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .serializers import refused_summary


class ApplicationError(Exception):
    """A request that the domain refuses; `message` says what to fix, `extra` holds field errors."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ConflictError(ApplicationError):
    """Someone else changed the row first (optimistic locking); nothing was overwritten."""

    status_code = status.HTTP_409_CONFLICT


class TooManyRequestsError(ApplicationError):
    """A cap on work in flight was reached (429); nothing was queued. `retry_after`: seconds until asking
    again is worth it, sent as the `Retry-After` header."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, message: str, extra: dict[str, Any] | None = None, *, retry_after: int = 10):
        super().__init__(message, extra)
        self.retry_after = max(1, int(retry_after))


def retry_headers(exc: Exception) -> dict[str, str]:
    """`Retry-After` for a refusal that has one (TooManyRequestsError), else nothing."""
    wait = getattr(exc, "retry_after", None)
    return {"Retry-After": str(wait)} if wait else {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(
            {"detail": exc.message, "errors": exc.extra}, status=exc.status_code, headers=retry_headers(exc)
        )
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response({"detail": "Invalid input.", "errors": errors}, status=400)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        detail = refused_summary(exc.detail) or "Invalid input: see errors for each field."
        response.data = {"detail": detail, "errors": errors}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"]), "errors": {}}
    return response


class ApplicationErrorMiddleware:
    """Pages: an ApplicationError that escaped a view becomes a readable error page, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ApplicationError):
            response = render(
                request,
                "error.html",
                {"message": exception.message, "errors": exception.extra},
                status=exception.status_code,
            )
            for name, value in retry_headers(exception).items():
                response[name] = value
            return response
        if isinstance(exception, (PermissionDenied, Http404)):
            return None  # Django's own handlers
        return None
