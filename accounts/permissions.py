"""Who may manage accounts (built on annotation's roles, like curated_data/permissions.py).

Staff manage users. A project owner may invite people to their project and may hand out a
password-reset link only for people who could not give them more than they have: active, not staff,
members of no project the owner does not own (otherwise a reset link would take over access to
someone else's projects), and whose account an invitation to one of the owner's projects created
(an account that existed before, with or without projects, is never the owner's to reset).
Superusers may do everything. A link is checked against these rules again each time it is used
(accounts/tokens.py).
"""

from __future__ import annotations

from annotation import permissions as annotation_permissions
from annotation.models import Membership, Project, Role

from .models import Invitation


def can_manage_users(user) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser))


def can_invite(user, project: Project) -> bool:
    return annotation_permissions.can_manage_project(user, project)


def can_change_active(actor, target) -> bool:
    if not can_manage_users(actor) or actor.pk == target.pk:
        return False
    return actor.is_superuser or not (target.is_staff or target.is_superuser)


def owned_project_ids(user) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user_id=user.pk, role=Role.OWNER).values_list("project_id", flat=True))


def can_see_users_page(user) -> bool:
    return can_manage_users(user) or bool(owned_project_ids(user))


def can_issue_password_link(actor, target) -> bool:
    return target.pk in password_link_allowed(actor, [target])


def password_link_allowed(actor, targets) -> set[int]:
    """Ids among `targets` for whom `actor` may create a password-reset link (a few queries in all)."""
    if not actor.is_authenticated or not actor.is_active:
        return set()
    active = [t for t in targets if t.is_active]
    if actor.is_superuser:
        return {t.pk for t in active}
    plain = [t for t in active if not (t.is_staff or t.is_superuser)]
    if actor.is_staff:
        return {t.pk for t in plain}
    owned = owned_project_ids(actor)
    if not owned or not plain:
        return set()
    ids = [t.pk for t in plain]
    inside = set(Membership.objects.filter(user_id__in=ids, project_id__in=owned).values_list("user_id", flat=True))
    outside = set(
        Membership.objects.filter(user_id__in=ids).exclude(project_id__in=owned).values_list("user_id", flat=True)
    )
    created_here = set(
        Invitation.objects.filter(accepted_by_id__in=ids, created_account=True, project_id__in=owned).values_list(
            "accepted_by_id", flat=True
        )
    )
    return (inside - outside) & created_here
