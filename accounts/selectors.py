"""Reads for the account pages: user lists, pending invitations, an invitation by its token, API tokens."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet
from django.http import Http404

from annotation.models import Project

from . import permissions
from .models import ApiToken, Invitation
from .services import token_hash

USER_LIST_LIMIT = 500


def user_list(*, q: str = "") -> QuerySet:
    """Every account (staff's Users page), with how many projects each belongs to."""
    users = get_user_model().objects.all()
    if q:
        users = users.filter(username__icontains=q) | users.filter(email__icontains=q)
    return users.annotate(project_count=Count("memberships")).order_by("username")


def users_of_owned_projects(actor, *, q: str = "") -> QuerySet:
    """A project owner's Users page: the members of the projects they own."""
    owned = permissions.owned_project_ids(actor)
    users = get_user_model().objects.filter(memberships__project_id__in=owned).distinct()
    if q:
        users = users.filter(username__icontains=q)
    return users.annotate(project_count=Count("memberships", distinct=True)).order_by("username")


def user_get(user_id) -> object:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    return user


def open_invitations(project: Project) -> QuerySet[Invitation]:
    """Invitations neither accepted nor revoked (expired ones too: the owner may renew them)."""
    return (
        Invitation.objects.filter(project=project, accepted_at=None, revoked_at=None)
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def open_invitation_get(project: Project, invitation_id) -> Invitation:
    try:
        return open_invitations(project).get(pk=int(invitation_id))
    except (ValueError, TypeError, Invitation.DoesNotExist):
        raise Http404("No such pending invitation.") from None


def invitation_by_token(token: str) -> Invitation | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    return Invitation.objects.select_related("project", "invited_by").filter(token_hash=token_hash(token)).first()


def api_tokens_of(user) -> QuerySet[ApiToken]:
    """A person's tokens, newest first, revoked ones included (the account page says which)."""
    return ApiToken.objects.filter(user=user).select_related("project").order_by("-created")


def api_token_of(user, prefix) -> ApiToken:
    """One of the person's own tokens, by the key's public prefix; anyone else's is not found."""
    try:
        return ApiToken.objects.get(user=user, prefix=str(prefix))
    except ApiToken.DoesNotExist:
        raise Http404("No such API token.") from None
