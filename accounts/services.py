"""Accounts: create users, invitations and one-time password links; accept invitations; sign up;
create and revoke API tokens.

Invitation links carry a random token of which only the sha256 is stored; a person joins a project
only by accepting one (creating an account, or signed in with theirs). Password links for existing
accounts (staff-made invitations, resets) use `accounts.tokens`: the token is derived from the
password hash, last login and memberships, names who made it, works once, expires after
PASSWORD_RESET_TIMEOUT and is checked against the permissions again whenever it is used.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from annotation.models import Membership, Project, Role
from annotune.errors import ApplicationError

from . import permissions
from .models import ApiToken, Invitation, TokenScope
from .tokens import password_link_tokens

log = logging.getLogger(__name__)

DUMMY_MAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mail_configured() -> bool:
    return bool(settings.EMAIL_BACKEND) and settings.EMAIL_BACKEND != DUMMY_MAIL_BACKEND


def mail_send(*, to: str, subject: str, body: str) -> str | None:
    """Send one plain-text mail; None when sent, otherwise why not (never raises)."""
    if not mail_configured():
        return "E-mail is not configured on this server."
    try:
        send_mail(" ".join(subject.split()), body, None, [to])
    except Exception as exc:  # noqa: BLE001 -- any mail failure is reported, never fatal
        log.warning("mail to %s failed: %s", to, exc)
        return f"The e-mail to {to} could not be sent ({type(exc).__name__})."
    return None


# --- account fields -------------------------------------------------------------------------------


def _clean_account(
    *, username: Any, email: Any, password: Any, password2: Any, need_password: bool, unique_email: bool = True
) -> tuple[str, str, str | None]:
    """Check the fields of a new account; one ApplicationError listing every problem."""
    user_model = get_user_model()
    errors: dict[str, list[str]] = {}
    username = username.strip() if isinstance(username, str) else ""
    email = email.strip() if isinstance(email, str) else ""
    password = password if isinstance(password, str) and password else None
    password2 = password2 if isinstance(password2, str) else ""
    if not username:
        errors["username"] = ["Choose a username."]
    elif len(username) > 150:
        errors["username"] = ["Keep the username to 150 characters or fewer."]
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError:
            errors["username"] = ["Use only letters, digits and @ . + - _ in the username (no spaces)."]
        else:
            if user_model.objects.filter(username__iexact=username).exists():
                errors["username"] = [f"The username {username!r} is taken; choose another."]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [f"{email!r} is not an e-mail address."]
        else:
            if unique_email and user_model.objects.filter(email__iexact=email).exists():
                errors["email"] = ["Another account already uses this e-mail address."]
    if password is None:
        if need_password:
            errors["password1"] = ["Choose a password."]
    elif password != password2:
        errors["password2"] = ["The two passwords differ; type the same password twice."]
    else:
        try:
            password_validation.validate_password(password, user_model(username=username, email=email))
        except ValidationError as exc:
            errors["password1"] = list(exc.messages)
    if errors:
        raise ApplicationError("The account could not be created: see the fields.", errors)
    return username, email, password


def _create_user(*, username: str, email: str, password: str | None):
    user = get_user_model()(username=username, email=email)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ApplicationError(
            f"The username {username!r} was just taken.", {"username": ["Choose another username."]}
        ) from None
    return user


# --- staff: users ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordLink:
    user: Any
    path: str  # /reset/<uidb64>/<token>/: build an absolute URL with the request


def password_link_path(user, *, issuer=None) -> str:
    """The link's path; `issuer`: who hands it over (checked again when it is used), None for the
    account's own request."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("password_reset_confirm", args=[uid, password_link_tokens.make_token(user, issuer=issuer)])


@transaction.atomic
def user_create(*, actor, username: Any, email: Any = "", password: Any = None, password2: Any = None):
    """Staff create an account; without a password it gets none and a one-time link to set one."""
    if not permissions.can_manage_users(actor):
        raise PermissionDenied("Only staff create users.")
    username, email, password = _clean_account(
        username=username, email=email, password=password, password2=password2, need_password=False
    )
    return _create_user(username=username, email=email, password=password)


def password_link_create(*, actor, user) -> PasswordLink:
    """A one-time link with which `user` sets a new password (staff, or an owner of all their projects)."""
    if not permissions.can_issue_password_link(actor, user):
        raise PermissionDenied("You may not create a password link for this user.")
    return PasswordLink(user=user, path=password_link_path(user, issuer=actor))


@transaction.atomic
def user_set_active(*, actor, user, active: bool):
    if not permissions.can_change_active(actor, user):
        if actor.pk == user.pk:
            raise ApplicationError("You cannot deactivate your own account.")
        raise PermissionDenied("Only superusers change staff accounts; only staff change other accounts.")
    user.is_active = bool(active)
    user.save(update_fields=["is_active"])
    return user


def password_set(*, user, password: str) -> None:
    """The signed-in user's new password (already checked by Django's PasswordChangeForm)."""
    user.set_password(password)
    user.save(update_fields=["password"])


@transaction.atomic
def signup(*, username: Any, email: Any = "", password: Any, password2: Any):
    if not settings.ANNOTUNE_SIGNUP:
        raise PermissionDenied("Sign-up is turned off.")
    username, email, password = _clean_account(
        username=username, email=email, password=password, password2=password2, need_password=True
    )
    return _create_user(username=username, email=email, password=password)


# --- owners: invitations --------------------------------------------------------------------------


def _expiry():
    return timezone.now() + timedelta(days=settings.ANNOTUNE_INVITATION_DAYS)


@transaction.atomic
def invitation_create(
    *, project: Project, actor, role: str, email: str = "", username: str = ""
) -> tuple[Invitation, str]:
    """A pending invitation and its token (shown once). An earlier pending one for the same person
    in this project is revoked: the new link replaces it."""
    if not permissions.can_invite(actor, project):
        raise PermissionDenied("Only owners invite people to a project.")
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", {"role": [f"Use one of {', '.join(Role.values)}."]})
    if not (email or username) or (email and username):
        raise ApplicationError("Invite either an e-mail address or a username.")
    now = timezone.now()
    same = {"email__iexact": email} if email else {"username__iexact": username}
    Invitation.objects.filter(project=project, accepted_at=None, revoked_at=None, **same).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        role=role,
        email=email,
        username=username,
        invited_by=actor,
        token_hash=token_hash(token),
        expires_at=_expiry(),
    )
    return invitation, token


def _require_pending(invitation: Invitation, actor) -> None:
    if not permissions.can_invite(actor, invitation.project):
        raise PermissionDenied("Only owners manage invitations.")
    if invitation.accepted_at is not None:
        raise ApplicationError("This invitation was already accepted.")
    if invitation.revoked_at is not None:
        raise ApplicationError("This invitation was already revoked.")


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    _require_pending(invitation, actor)
    updated = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    if updated != 1:
        raise ApplicationError("This invitation was accepted or revoked in the meantime.")
    invitation.refresh_from_db()
    return invitation


@transaction.atomic
def invitation_renew(*, invitation: Invitation, actor) -> tuple[Invitation, str]:
    """A new link (and a new expiry) for a pending or expired invitation; the old link stops working."""
    _require_pending(invitation, actor)
    token = secrets.token_urlsafe(32)
    updated = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        token_hash=token_hash(token), expires_at=_expiry()
    )
    if updated != 1:
        raise ApplicationError("This invitation was accepted or revoked in the meantime.")
    invitation.refresh_from_db()
    return invitation, token


def invitation_problem(invitation: Invitation | None) -> str | None:
    """Why an invitation link no longer works, or None while it does."""
    if invitation is None:
        return "This invitation link is not valid. Check that you copied all of it, or ask for a new one."
    if invitation.accepted_at is not None:
        return "This invitation link was already used. Log in with the account it created."
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn by the project's owner. Ask them for a new one."
    if invitation.expires_at <= timezone.now():
        return "This invitation link has expired. Ask the project's owner for a new one."
    return None


def invitation_mail(*, invitation: Invitation, url: str) -> str | None:
    """Mail the link to an invitation by e-mail; None when sent, otherwise what went wrong."""
    inviter = invitation.invited_by.username if invitation.invited_by else "An owner"
    body = (
        f"{inviter} invited you to the project “{invitation.project.name}” on Annotune "
        f"as {invitation.get_role_display().lower()}.\n\n"
        f"Open this link to join: log in with your account, or choose a username and a password to create "
        f"one (it works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{url}\n"
    )
    return mail_send(to=invitation.email, subject=f"Invitation to {invitation.project.name} on Annotune", body=body)


@transaction.atomic
def invitation_accept(*, token: str, username: Any, password: Any, password2: Any):
    """Create the invited account, add it to the project with the invited role. Works once."""
    invitation = (
        Invitation.objects.select_for_update().select_related("project").filter(token_hash=token_hash(token)).first()
    )
    problem = invitation_problem(invitation)
    if problem is not None:
        raise ApplicationError(problem, {"invitation": [problem]})
    if invitation.username:
        username = invitation.username  # invited by username: that is the account's name
    username, email, password = _clean_account(
        username=username,
        email=invitation.email,
        password=password,
        password2=password2,
        need_password=True,
        unique_email=False,  # the invitation names the address; an account made since does not block it
    )
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        accepted_at=timezone.now()
    )
    if claimed != 1:
        raise ApplicationError("This invitation link was already used.", {"invitation": ["Already used."]})
    user = _create_user(username=username, email=email, password=password)
    Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
    Invitation.objects.filter(pk=invitation.pk).update(accepted_by=user, created_account=True)
    return user, invitation.project


def invitation_join_problem(invitation: Invitation, user) -> str | None:
    """Why the signed-in `user` cannot accept this (valid) invitation with their account, or None."""
    if not user.is_authenticated or not user.is_active:
        return "Log in to accept the invitation with your account."
    if invitation.username and user.username.lower() != invitation.username.lower():
        return (
            f"This invitation is for the account “{invitation.username}”: log in as {invitation.username} "
            "to accept it (you are logged in as someone else)."
        )
    if Membership.objects.filter(project_id=invitation.project_id, user_id=user.pk).exists():
        return "You are already a member of this project; change roles on its Members page if needed."
    return None


@transaction.atomic
def invitation_join(*, token: str, user):
    """The signed-in `user` accepts the invitation with their existing account: they join the project
    with the invited role. Works once."""
    invitation = (
        Invitation.objects.select_for_update().select_related("project").filter(token_hash=token_hash(token)).first()
    )
    problem = invitation_problem(invitation)
    if problem is not None:
        raise ApplicationError(problem, {"invitation": [problem]})
    problem = invitation_join_problem(invitation, user)
    if problem is not None:
        raise ApplicationError(problem)
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        accepted_at=timezone.now(), accepted_by=user
    )
    if claimed != 1:
        raise ApplicationError("This invitation link was already used.", {"invitation": ["Already used."]})
    try:
        with transaction.atomic():
            Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
    except IntegrityError:
        raise ApplicationError("You are already a member of this project.") from None
    return invitation.project


API_TOKEN_MAX_DAYS = 3650


@transaction.atomic
def api_token_create(
    *, user, name: Any, scope: Any = TokenScope.FULL, project: Project | None = None, expires_in_days: Any = None
) -> tuple[ApiToken, str]:
    """A new token of `user` and its key, which is shown once (only its hash is stored).

    `project` limits the token to one project the user belongs to; `expires_in_days` (1 to 3650, or
    None for no expiry) sets when it stops working.
    """
    name = str(name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the token a name that says where it is used, e.g. 'chat app on my laptop'."]
    elif len(name) > 50:
        errors["name"] = ["Use at most 50 characters."]
    if scope not in TokenScope.values:
        errors["scope"] = [f"Use one of {', '.join(TokenScope.values)}."]
    member = project is None or user.is_superuser or Membership.objects.filter(project=project, user=user).exists()
    if not member:
        errors["project"] = ["Choose a project you are a member of."]
    expiry = None
    if expires_in_days not in (None, ""):
        try:
            days = int(expires_in_days)
        except (TypeError, ValueError):
            days = 0
        if not 1 <= days <= API_TOKEN_MAX_DAYS:
            errors["expires_in_days"] = [f"Give a whole number of days from 1 to {API_TOKEN_MAX_DAYS}, or none."]
        else:
            expiry = timezone.now() + timedelta(days=days)
    if errors:
        problems = " ".join(message for messages in errors.values() for message in messages)
        raise ApplicationError(f"The token was not created: {problems}", errors)
    return ApiToken.objects.create_key(user=user, name=name, scope=scope, project=project, expiry_date=expiry)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    """Revoke a token for good. Its owner (or staff) may; a revoked token stays listed as revoked."""
    if token.user_id != actor.pk and not actor.is_staff:
        raise PermissionDenied("Only the token's owner revokes it.")
    if not token.revoked:
        token.revoked = True
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked", "revoked_at"])
    return token
