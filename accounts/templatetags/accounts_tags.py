"""Navigation by role: a member sees the project pages their role can use, staff see Users and Admin."""

from __future__ import annotations

from django import template
from django.conf import settings

from annotation import permissions
from annotation.models import Project
from curated_data import permissions as dataset_permissions

register = template.Library()


@register.simple_tag
def project_nav(user, project) -> dict[str, bool]:
    """Which role-restricted project pages to link: review and data-health runs are for reviewers and
    owners, training and dataset versions for owners (see annotation/permissions.py)."""
    if not isinstance(project, Project) or not user.is_authenticated:
        return {}
    return {
        "review": permissions.can_review(user, project),
        "data_health": permissions.can_review(user, project),
        "training": permissions.can_train(user, project),
        "datasets": dataset_permissions.can_create_version(user, project),
    }


@register.simple_tag
def signup_enabled() -> bool:
    return bool(settings.ANNOTUNE_SIGNUP)
