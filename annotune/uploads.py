"""Uploads: a size limit per endpoint, enforced before the body is read, and streamed reading.

Every request carrying files gets `LimitedUploadHandler` first in its upload handlers (installed by
`annotune.middleware.UploadLimitMiddleware`): a body whose Content-Length exceeds the endpoint's
limit is refused with 413 before a byte of it is read, and parsing stops as soon as the file data
passes the limit. Files above FILE_UPLOAD_MAX_MEMORY_SIZE are spooled to a temporary file, never
held in memory; readers go through `iter_text` / `.chunks()`, never `.read()` of the whole file.

A view that must check permission before touching the body (an annotator's 270 MB upload gets 403,
not a read) is marked with `@upload_view(max_bytes)`; the middleware then leaves the body alone and
the view calls `accept_upload(request)` (pages: size, then CSRF) or `check_size(request)` (API) after
its permission check.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt

from .errors import ApplicationError


class UploadTooLarge(ApplicationError):
    status_code = 413


def _refusal(limit: int, size: int | None = None) -> UploadTooLarge:
    what = f"The upload is {size:,} bytes" if size is not None else "The upload is too large"
    return UploadTooLarge(
        f"{what}; this endpoint accepts at most {limit:,} bytes. Send a smaller file.",
        {"file": [f"At most {limit:,} bytes."]},
    )


def _content_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def is_multipart(request) -> bool:
    return request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")


class LimitedUploadHandler(FileUploadHandler):
    """First upload handler of every request: refuses a body over the endpoint's limit, early."""

    def __init__(self, limit: int, request=None):
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # The multipart body (files and fields) may not be larger than the limit plus a little framing.
        if content_length and content_length > self.limit + FRAMING_ALLOWANCE:
            raise _refusal(self.limit, content_length)
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            raise _refusal(self.limit)
        return raw_data

    def file_complete(self, file_size):
        return None


# Multipart boundaries, part headers and small form fields around the file.
FRAMING_ALLOWANCE = 64 * 1024


def default_limit() -> int:
    return settings.ANNOTUNE_UPLOAD_MAX_BYTES


def view_limit(view_func) -> tuple[int, bool]:
    """(byte limit, whether the view checks it itself after its permission check)."""
    target = getattr(view_func, "cls", view_func)  # DRF's as_view() keeps the class on `cls`
    limit = getattr(view_func, "upload_max_bytes", None) or getattr(target, "upload_max_bytes", None)
    by_view = any(getattr(item, "upload_checked_by_view", False) for item in (view_func, target))
    if callable(limit):
        limit = limit()
    return int(limit or default_limit()), by_view


def upload_view(max_bytes: int | Callable[[], int]):
    """Mark a view taking files: its limit, and that it checks size (and CSRF, for pages) itself.

    On a function view this also exempts it from the CSRF middleware (which would read the body
    before the view's permission check); the view must call `accept_upload` before it reads input.
    On a DRF APIView class it only sets the limit (DRF checks CSRF for session users itself).
    """

    def decorate(view):
        view.upload_max_bytes = max_bytes
        view.upload_checked_by_view = True
        if isinstance(view, type):
            return view
        return csrf_exempt(view)

    return decorate


def check_size(request) -> None:
    """Raise UploadTooLarge (413) when the announced body exceeds this endpoint's limit."""
    limit = getattr(request, "upload_max_bytes", None) or default_limit()
    size = _content_length(request)
    if is_multipart(request) and size > limit + FRAMING_ALLOWANCE:
        leave_body_unread(request)
        raise _refusal(limit, size)


def leave_body_unread(request) -> None:
    """Whatever answers this request next (an error page, whose CSRF token handling reads POST) finds
    the multipart body already "parsed" as empty, and never reads it."""
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if is_multipart(request) and not hasattr(request, "_post"):
        request._post, request._files = QueryDict(), MultiValueDict()


def accept_upload(request):
    """For `upload_view` pages, after the permission check: size first, then CSRF.

    Returns None when the request may be read, else the response to send (CSRF failure page).
    Raises UploadTooLarge for an oversized body (the page middleware renders it).
    """
    check_size(request)
    middleware = CsrfViewMiddleware(lambda request: None)
    return middleware.process_view(request, None, (), {})


def iter_text(upload, *, max_chars: int, encoding: str = "utf-8-sig") -> str:
    """Decode an uploaded file chunk by chunk; refuse it once it passes `max_chars`.

    Memory: one chunk plus the text kept (at most `max_chars`), whatever the file's size.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    parts: list[str] = []
    total = 0
    for chunk in _chunks(upload):
        text = decoder.decode(chunk)
        total += len(text)
        if total > max_chars:
            raise ApplicationError("The file is too large.", {"file": [f"At most {max_chars:,} characters of text."]})
        parts.append(text)
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def _chunks(upload) -> Iterator[bytes]:
    if hasattr(upload, "chunks"):
        yield from upload.chunks()
    else:  # a plain file object
        while chunk := upload.read(64 * 1024):
            yield chunk
