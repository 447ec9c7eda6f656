"""Request guards that apply to every endpoint: NUL characters, upload sizes, Content-Security-Policy,
and a 503 while the database is unreachable.

Refusals are answered in one shape: JSON `{"detail", "errors"}` under /api/, the error page elsewhere.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults

from . import uploads

log = logging.getLogger(__name__)


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


# Errors that mean "the database cannot be reached", not "this request is wrong": the server went away,
# refused the connection, or the connection this process held was broken by a restart.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 10
DATABASE_UNAVAILABLE_MESSAGE = (
    "The database is not reachable at the moment, so nothing was read or saved. Try again in a few seconds."
)


def drop_broken_connections() -> None:
    """Close every database connection of this thread that no longer works.

    The next query opens a fresh one (CONN_HEALTH_CHECKS checks a persistent connection before reuse
    too): the process recovers when the database is back, without a restart.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        try:
            usable = conn.is_usable()
        except Exception:  # noqa: BLE001 - a connection that cannot even answer is broken
            usable = False
        if not usable:
            try:
                conn.close()
            except Exception:  # noqa: BLE001,S110 - closing a dead socket may fail; it is dropped either way
                pass
            conn.connection = None


def database_unavailable_response(request) -> HttpResponse:
    """503 with Retry-After: JSON under /api/ and /v1/, a standalone page elsewhere.

    The page is rendered without the request: its context processors would ask the database again
    (the signed-in user, the session).
    """
    api = request.path_info.startswith(("/api/", "/v1/"))
    if api:
        response: HttpResponse = JsonResponse(
            {"detail": DATABASE_UNAVAILABLE_MESSAGE, "errors": {}, "code": "database_unavailable"}, status=503
        )
    else:
        html = render_to_string(
            "database_unavailable.html",
            {"message": DATABASE_UNAVAILABLE_MESSAGE, "retry_after": DATABASE_RETRY_AFTER_SECONDS},
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request):
    """handler500: an unreachable database raised outside any view (a middleware) is a 503 too."""
    import sys

    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE_ERRORS):
        drop_broken_connections()
        return database_unavailable_response(request)
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", "errors": {}}, status=500)
    return defaults.server_error(request)


class DatabaseUnavailableMiddleware:
    """The one place a lost database becomes a 503 (never a 500 or a traceback).

    Views, DRF views (their exception handler passes these errors on) and template rendering end in
    process_exception; a middleware below this one that raises ends in `server_error` (handler500),
    which answers the same way. Every transaction of the request was rolled back by then, so a write
    that hit the outage changed nothing; broken connections are dropped so the next request reconnects.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except DATABASE_UNAVAILABLE_ERRORS:  # raised by a middleware below, outside a view
            log.warning("database unavailable on %s %s", request.method, request.path_info, exc_info=True)
            drop_broken_connections()
            return database_unavailable_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return None
        log.warning("database unavailable on %s %s: %s", request.method, request.path_info, exception)
        drop_broken_connections()
        return database_unavailable_response(request)
