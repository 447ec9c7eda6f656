"""Throttling of failed sign-ins (per account and address, and per address) and of invalid API tokens
(per address).

Counters live in the cache named by ANNOTUNE_THROTTLE_CACHE, shared by every web process: Redis
when CACHE_URL names one (production), else a database cache table (embedded default: one SQLite
file shared by the gunicorn workers; the test database has its own). A scope that collects `limit`
failures within `window` seconds is locked for `lockout` seconds, with a message saying how long to
wait.

What a lockout refuses, so that a stranger cannot lock anyone else out:
- sign-ins: wrong passwords for one account from one address lock that account *from that address*
  only (the account's owner, signing in from elsewhere, is not affected); many failures from one
  address, on any accounts, lock that address. During a lockout every sign-in of that scope is
  refused, right or wrong (a guesser learns nothing).
- API tokens: invalid tokens lock their address for invalid tokens only. A valid token is always
  accepted (tokens are 160 random bits: the lockout limits load, not guessing).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import caches
from django.core.exceptions import PermissionDenied


def _cache():
    return caches[settings.ANNOTUNE_THROTTLE_CACHE]


def client_address(request) -> str:
    """The client's IP: REMOTE_ADDR, or the address the trusted proxies put in X-Forwarded-For."""
    proxies = settings.ANNOTUNE_TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or "unknown"


@dataclass(frozen=True)
class Throttle:
    scope: str
    limit: int
    window: int
    lockout: int

    def _key(self, ident: str, part: str) -> str:
        digest = hashlib.sha256(ident.strip().lower().encode("utf-8", "replace")).hexdigest()[:32]
        return f"annotune:throttle:{self.scope}:{part}:{digest}"

    def locked_for(self, ident: str) -> int:
        """Seconds left of this identity's lockout, 0 when not locked."""
        until = _cache().get(self._key(ident, "lock"))
        if not until:
            return 0
        return max(math.ceil(until - time.time()), 0)

    def failure(self, ident: str) -> int:
        """Count one failure; returns the lockout's length when this one starts it, else 0."""
        cache, key = _cache(), self._key(ident, "count")
        cache.add(key, 0, timeout=self.window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=self.window)
            count = 1
        if count >= self.limit:
            cache.set(self._key(ident, "lock"), time.time() + self.lockout, timeout=self.lockout)
            cache.delete(key)
            return self.lockout
        return 0

    def reset(self, ident: str) -> None:
        _cache().delete_many([self._key(ident, "count"), self._key(ident, "lock")])


def login_account() -> Throttle:
    """Failed passwords of one account from one address (ident: `account_ident(username, request)`)."""
    return Throttle(
        "login-account-address",
        settings.ANNOTUNE_LOGIN_FAILURES_PER_ACCOUNT,
        settings.ANNOTUNE_THROTTLE_WINDOW_SECONDS,
        settings.ANNOTUNE_THROTTLE_LOCKOUT_SECONDS,
    )


def login_address() -> Throttle:
    return Throttle(
        "login-address",
        settings.ANNOTUNE_LOGIN_FAILURES_PER_ADDRESS,
        settings.ANNOTUNE_THROTTLE_WINDOW_SECONDS,
        settings.ANNOTUNE_THROTTLE_LOCKOUT_SECONDS,
    )


def token_address() -> Throttle:
    return Throttle(
        "token-address",
        settings.ANNOTUNE_TOKEN_FAILURES_PER_ADDRESS,
        settings.ANNOTUNE_THROTTLE_WINDOW_SECONDS,
        settings.ANNOTUNE_THROTTLE_LOCKOUT_SECONDS,
    )


def wait_text(seconds: int) -> str:
    if seconds <= 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def account_ident(username: str, request) -> str:
    """The (account, address) pair a failed password counts against."""
    address = client_address(request) if request is not None else "unknown"
    return f"{username.strip().lower()}\x00{address}"


def login_refusal(request, username: str) -> str | None:
    """Why a sign-in must be refused now (account locked from this address, or the address), else None."""
    wait = login_account().locked_for(account_ident(username, request)) if username else 0
    if wait:
        return (
            f"Too many failed sign-in attempts for this account from your address. Try again in {wait_text(wait)} "
            "(or ask an administrator to reset your password)."
        )
    wait = login_address().locked_for(client_address(request)) if request is not None else 0
    if wait:
        return f"Too many failed sign-in attempts from your address. Try again in {wait_text(wait)}."
    return None


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that refuses locked accounts and addresses, and counts failed passwords.

    Every sign-in goes through it (login page, admin login, anything calling authenticate()).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("username")
        if username is None or password is None:
            return None
        refusal = login_refusal(request, username)
        if refusal:
            if request is not None:
                request.login_refusal = refusal
            raise PermissionDenied(refusal)  # stops authenticate(): no other backend is asked
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_account().failure(account_ident(username, request))
            if request is not None:
                login_address().failure(client_address(request))
            raise PermissionDenied("Wrong username or password.")  # no other backend checks it again
        login_account().reset(account_ident(username, request))
        return user


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "%(reason)s",
    }

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            reason = getattr(self.request, "login_refusal", None)
            if reason:
                raise forms.ValidationError(
                    self.error_messages["throttled"], code="throttled", params={"reason": reason}
                ) from None
            raise


class ThrottledLoginView(auth_views.LoginView):
    """The login page: a refused sign-in because of a lockout answers 429 with the reason."""

    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form):
        throttled = bool(getattr(self.request, "login_refusal", None))
        response = self.render_to_response(self.get_context_data(form=form, throttled=throttled))
        if throttled:
            response.status_code = 429
        return response
