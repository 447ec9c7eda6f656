"""API token authentication: DRF's, with its per-request lookup written as one plain query.

Invalid tokens are throttled per client address (annotune.throttling): after
ANNOTUNE_TOKEN_FAILURES_PER_ADDRESS of them within the window, every invalid token from that
address is answered 429 (with Retry-After) until the lockout ends; a valid token is always accepted,
so other clients behind the same address keep working. Missing or bad credentials are
401 with `WWW-Authenticate: Token` (this class comes first in DEFAULT_AUTHENTICATION_CLASSES).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from . import throttling

# Every API request made with a token runs this: the ORM's select_related version costs about four
# times the CPU of the query itself.
_USER_BY_KEY = "SELECT u.* FROM auth_user u JOIN authtoken_token t ON t.user_id = u.id WHERE t.key = %s"


class TokenLockedOut(exceptions.Throttled):
    default_detail = "Too many requests with an invalid API token from your address."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request):
        self._address = throttling.client_address(request)
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        address = getattr(self, "_address", None)
        throttle = throttling.token_address()
        users = list(get_user_model().objects.raw(_USER_BY_KEY, [key])) if "\x00" not in key else []
        if not users:
            if address is not None:
                if wait := throttle.locked_for(address):
                    raise TokenLockedOut(wait=wait)
                throttle.failure(address)
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        token = Token.from_db(None, ["key", "user_id"], [key, user.pk])
        token.user = user
        return user, token
