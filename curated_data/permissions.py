"""Who may import, export and version a project's data (built on annotation's roles).

Owners import (it writes many examples at once under their name) and create dataset versions
(the input of training). Every member may export, list, download and diff versions: they can read
every example of the project already. Outsiders get 404 from `annotation.permissions.project_for`.
"""

from __future__ import annotations

from annotation.models import Project, Role
from annotation.permissions import role_in


def can_import(user, project: Project) -> bool:
    return role_in(user, project) == Role.OWNER


def can_create_version(user, project: Project) -> bool:
    return role_in(user, project) == Role.OWNER


def can_override_checks(user, project: Project) -> bool:
    return role_in(user, project) == Role.OWNER


def can_export(user, project: Project) -> bool:
    return role_in(user, project) is not None


def can_read_versions(user, project: Project) -> bool:
    return role_in(user, project) is not None
