"""API token authentication for the REST API (`/api/v1/`) and the OpenAI-compatible API (`/v1/`).

A client sends `Authorization: Token <key>` or `Authorization: Bearer <key>` (how OpenAI clients send
a key); both APIs take both. Keys are accounts.ApiToken rows: the library stores only a hash, so the
lookup is by the key's public prefix and the hash is compared in constant time. Tokens made before
named tokens existed (40 hex characters, no dot) were migrated with their first 8 characters as prefix
and keep working.

What a valid token may reach is decided here, before any view runs:
- scope: a full token reaches both APIs; an inference token reaches `/v1/` only (403 elsewhere);
- project: a token limited to one project reaches URLs of that project only, and reads the few URLs
  that belong to no project (the project list, the base models, the schemas); `/v1/` serves that
  project's models only (serving/openai_compat/views.py).

Invalid tokens are throttled per client address (annotune.throttling): after
ANNOTUNE_TOKEN_FAILURES_PER_ADDRESS of them within the window, every invalid token from that address is
answered 429 (with Retry-After) until the lockout ends; a valid token is always accepted, so other
clients behind the same address keep working. Missing or bad credentials are 401 with
`WWW-Authenticate: Token` (this class comes first in DEFAULT_AUTHENTICATION_CLASSES).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from accounts.models import ApiToken, TokenScope

from . import throttling

KEYWORDS = ("token", "bearer")
PREFIX_LENGTH = 8
# Writing last-used on every request would turn each API read into a write; once a minute is enough to
# tell a live token from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# URLs outside any project that a project-limited token may read.
OUTSIDE_PROJECTS = {"api-projects", "api-base-models", "api-training-schema", "api-schema"}


class TokenLockedOut(exceptions.Throttled):
    default_detail = "Too many requests with an invalid API token from your address."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


def key_prefix(key: str) -> str:
    """The public part of a key: before the dot, or a migrated token's first characters."""
    prefix, dot, _ = key.partition(".")
    return prefix if dot else key[:PREFIX_LENGTH]


class TokenAuthentication(authentication.BaseAuthentication):
    """The REST API's authentication: full-scope tokens only."""

    inference_api = False

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: send 'Token <key>' or 'Bearer <key>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token header: the key has characters no key has.") from None
        token = self.valid_token(key, throttling.client_address(request))
        self.check_reach(request, token)
        self.note_use(token)
        return token.user, token

    def authenticate_header(self, request):
        return "Token"

    def valid_token(self, key: str, address: str | None) -> ApiToken:
        prefix = key_prefix(key)
        token = None
        if len(prefix) == PREFIX_LENGTH and "\x00" not in key:
            token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
        if token is None or not token.is_valid(key):
            if address is not None:
                throttle = throttling.token_address()
                if wait := throttle.locked_for(address):
                    raise TokenLockedOut(wait=wait)
                throttle.failure(address)
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked:
            raise exceptions.AuthenticationFailed("This API token was revoked. Create a new one on your account page.")
        if token.has_expired:
            raise exceptions.AuthenticationFailed("This API token has expired. Create a new one on your account page.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token

    def check_reach(self, request, token: ApiToken) -> None:
        if token.scope != TokenScope.FULL and not self.inference_api:
            raise exceptions.PermissionDenied(
                "This API token is for inference only (/v1/). Use a full-access token for the REST API."
            )
        if token.project_id is None or self.inference_api:
            return
        match = request._request.resolver_match
        project_id = match.kwargs.get("project_id") if match else None
        if project_id is None:
            if request.method in SAFE_METHODS and match and match.url_name in OUTSIDE_PROJECTS:
                return
        elif project_id == token.project_id:
            return
        raise exceptions.PermissionDenied(f"This API token reaches project {token.project_id} only.")

    @staticmethod
    def note_use(token: ApiToken) -> None:
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now


class InferenceTokenAuthentication(TokenAuthentication):
    """`/v1/`'s authentication: full and inference tokens."""

    inference_api = True
