"""Password links: whether one may be used is decided when it is used.

Django's reset tokens are an HMAC of the account's state (password hash, last login, e-mail) and a
timestamp: setting the password, or signing in, ends every earlier link. These tokens also cover:

- the account's memberships (project and role) and its staff, superuser and active flags: a link
  dies when any of them changes (joins or leaves a project, a role changes, becomes staff);
- for a link someone else made (staff, or a project owner handing it over), who made it: the token
  names the issuer, and each use checks again that the issuer may still make this link
  (`permissions.can_issue_password_link`), so a link stops working once its issuer could no longer
  create it (the account joined another project, the issuer lost ownership or left).

A link the account asked for itself ("Forgot password?", mailed to its own address) names no issuer.
Token shape: `[<issuer id, base 36>.]<timestamp, base 36>-<hmac>`; links expire after
PASSWORD_RESET_TIMEOUT seconds.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import base36_to_int, int_to_base36

from annotation.models import Membership

from . import permissions


def account_fingerprint(user) -> str:
    """What a password link was made for, besides Django's fields: memberships and account flags."""
    rows = Membership.objects.filter(user_id=user.pk).order_by("project_id").values_list("project_id", "role")
    memberships = ",".join(f"{project}:{role}" for project, role in rows)
    flags = f"{int(user.is_staff)}{int(user.is_superuser)}{int(user.is_active)}"
    return f"{flags}|{memberships}"


class PasswordLinkTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "accounts.tokens.PasswordLinkTokenGenerator"

    def make_token(self, user, issuer=None) -> str:  # type: ignore[override]
        issuer_id = issuer.pk if issuer is not None else None
        return self._token(user, issuer_id, self._num_seconds(self._now()), self.secret)

    def check_token(self, user, token) -> bool:
        if user is None or not isinstance(token, str) or not token or len(token) > 100:
            return False
        issuer_id = None
        rest = token
        try:
            if "." in token:
                prefix, rest = token.split(".", 1)
                issuer_id = base36_to_int(prefix)
            ts_b36, _ = rest.split("-")
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._token(user, issuer_id, ts, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        if self._num_seconds(self._now()) - ts > settings.PASSWORD_RESET_TIMEOUT:
            return False
        if issuer_id is not None:
            issuer = get_user_model().objects.filter(pk=issuer_id).first()
            if issuer is None or not permissions.can_issue_password_link(issuer, user):
                return False
        return True

    def _token(self, user, issuer_id: int | None, timestamp: int, secret) -> str:
        value = f"{self._make_hash_value(user, timestamp)}|{issuer_id or ''}|{account_fingerprint(user)}"
        digest = salted_hmac(self.key_salt, value, secret=secret, algorithm=self.algorithm).hexdigest()[::2]
        prefix = f"{int_to_base36(issuer_id)}." if issuer_id is not None else ""
        return f"{prefix}{int_to_base36(timestamp)}-{digest}"


password_link_tokens = PasswordLinkTokenGenerator()
