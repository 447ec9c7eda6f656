"""Request guards that apply to every endpoint: NUL characters, upload sizes, Content-Security-Policy.

Refusals are answered in one shape: JSON `{"detail", "errors"}` under /api/, the error page elsewhere.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults

from . import uploads


def refusal_response(request, status: int, message: str, errors: dict | None = None):
    errors = errors or {}
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": message, "errors": errors}, status=status)
    return render(request, "error.html", {"message": message, "errors": errors}, status=status)


def page_not_found(request, exception=None):
    """handler404: JSON under /api/ (a path no URL pattern matches, e.g. a negative id), the page elsewhere."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "errors": {}}, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """handler400 (a SuspiciousOperation, e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE): JSON under /api/."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Bad request.", "errors": {}}, status=400)
    return defaults.bad_request(request, exception)


def _nul_field(data) -> str | None:
    for key, values in data.lists():
        if "\x00" in key:
            return key.replace("\x00", "\\0")
        if any("\x00" in value for value in values if isinstance(value, str)):
            return key
    return None


class RejectNulMiddleware:
    """A NUL character in the path, a query parameter or a form field is a 400 saying which one.

    No database column can hold NUL (PostgreSQL refuses it with a DataError, a 500 if it got that
    far). JSON bodies are checked by annotune.parsers.StrictJSONParser; multipart form fields are
    left to their views, so that an upload view can check permission before the body is read.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            return refusal_response(
                request, 400, "The URL contains a NUL character (%00); remove it and try again.", {"path": ["NUL"]}
            )
        where = _nul_field(request.GET)
        if where is not None:
            return refusal_response(
                request,
                400,
                f"The query parameter “{where}” contains a NUL character (%00); remove it and try again.",
                {where: ["Contains a NUL character."]},
            )
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.META.get("CONTENT_TYPE", "").lower().startswith(
            "application/x-www-form-urlencoded"
        ):
            where = _nul_field(request.POST)
            if where is not None:
                return refusal_response(
                    request,
                    400,
                    f"The form field “{where}” contains a NUL character; remove it and send again.",
                    {where: ["Contains a NUL character."]},
                )
        return self.get_response(request)


class UploadLimitMiddleware:
    """Installs the size-limited upload handler; refuses an oversized multipart body unread (413).

    Must come before CsrfViewMiddleware, which reads POST bodies in its process_view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        limit, checked_by_view = uploads.view_limit(view_func)
        request.upload_max_bytes = limit
        try:
            request.upload_handlers.insert(0, uploads.LimitedUploadHandler(limit, request))
        except AttributeError:  # the body was parsed already (an earlier middleware read it)
            pass
        if not checked_by_view:
            try:
                uploads.check_size(request)
            except uploads.UploadTooLarge as exc:
                return refusal_response(request, exc.status_code, exc.message, exc.extra)
        return None

    def process_exception(self, request, exception):
        # A view refused the request (403, 404, ...) before reading its upload: the error page must
        # not read it either (its CSRF token handling would parse the body).
        uploads.leave_body_unread(request)
        if isinstance(exception, uploads.UploadTooLarge):
            return refusal_response(request, exception.status_code, exception.message, exception.extra)
        return None


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    """Content-Security-Policy on every response: scripts only from this origin, never inline.

    A view may set its own header (the API docs page does); it is left as it is.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        report_only = settings.ANNOTUNE_CSP_REPORT_ONLY
        self.header = "Content-Security-Policy-Report-Only" if report_only else "Content-Security-Policy"
        self.policy = _policy(settings.ANNOTUNE_CSP)

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and "Content-Security-Policy-Report-Only" not in response:
            response[self.header] = self.policy
        return response
