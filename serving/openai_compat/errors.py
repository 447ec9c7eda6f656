"""Every refusal of the /v1/ endpoints in OpenAI's error shape:
`{"error": {"message", "type", "param", "code"}}`, with the status OpenAI's clients map to exceptions."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response

from annotune.errors import ApplicationError, TooManyRequestsError, retry_headers

log = logging.getLogger(__name__)


class OpenAIError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",  # noqa: A002 (OpenAI's field name)
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def model_not_found(model: Any) -> OpenAIError:
    return OpenAIError(
        f"The model `{model}` does not exist or you do not have access to it.",
        status=404,
        param="model",
        code="model_not_found",
    )


def _from_api_exception(exc: exceptions.APIException) -> OpenAIError:
    detail = exc.detail
    if isinstance(detail, dict | list):
        message = "; ".join(f"{k}: {v}" for k, v in detail.items()) if isinstance(detail, dict) else str(detail)
    else:
        message = str(detail)
    if isinstance(exc, exceptions.NotAuthenticated):
        return OpenAIError(
            "You didn't provide an API key. Send your Annotune API token as `Authorization: Bearer <token>`.",
            status=401,
            code="missing_api_key",
        )
    if isinstance(exc, exceptions.AuthenticationFailed):
        return OpenAIError(f"Incorrect API key provided: {message}", status=401, code="invalid_api_key")
    if isinstance(exc, exceptions.Throttled):
        return OpenAIError(message, status=429, type="requests", code="rate_limit_exceeded")
    if isinstance(exc, exceptions.PermissionDenied):
        return OpenAIError(message, status=403, type="permission_error", code="permission_denied")
    if isinstance(exc, exceptions.NotFound):
        return OpenAIError(message, status=404, code="not_found")
    return OpenAIError(message, status=exc.status_code, code=getattr(exc, "default_code", None))


def as_openai_error(exc: Exception) -> OpenAIError | None:
    """The OpenAI-shaped equivalent of an exception a view raised (None: an unexpected one)."""
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, TooManyRequestsError):  # a cap on work in flight: OpenAI's rate-limit shape
        return OpenAIError(exc.message, status=429, type="requests", code="rate_limit_exceeded")
    if isinstance(exc, ApplicationError):
        param = next(iter(exc.extra), None) if exc.extra else None
        return OpenAIError(exc.message, status=exc.status_code, param=param)
    if isinstance(exc, Http404):
        return OpenAIError(str(exc) or "Not found.", status=404, code="not_found")
    if isinstance(exc, PermissionDenied):
        return OpenAIError(str(exc) or "Permission denied.", status=403, type="permission_error")
    if isinstance(exc, exceptions.APIException):
        return _from_api_exception(exc)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler of the /v1/ views: everything, unexpected errors too, in OpenAI's shape."""
    error = as_openai_error(exc)
    if error is None:
        log.exception("OpenAI-compatible endpoint failed", exc_info=exc)
        error = OpenAIError("The server had an error while processing your request.", status=500, type="server_error")
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"
    headers.update(retry_headers(exc))
    return Response(error.body(), status=error.status, headers=headers)


@csrf_exempt
def not_found_view(request, *args, **kwargs) -> JsonResponse:
    """Any other path under /v1/."""
    error = OpenAIError(f"Unknown request URL: {request.method} {request.path}.", status=404, code="unknown_url")
    return JsonResponse(error.body(), status=404)
