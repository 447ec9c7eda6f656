"""Who may do what in a project: decided here and nowhere else.

Roles: owner (everything), reviewer (annotate + review), annotator (write own examples).
Outsiders see nothing: lookups for them raise Http404 so a project's existence does not leak.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Example, ExampleStatus, Membership, Project, Role

# Returned examples (changes requested, rejected) go back to draft when their author edits them.
EDITABLE_STATUSES = {ExampleStatus.DRAFT, ExampleStatus.CHANGES_REQUESTED, ExampleStatus.REJECTED}


def role_in(user, project: Project) -> str | None:
    """The user's role in the project (cached on the user object for the request)."""
    if not user.is_authenticated:
        return None
    cache = user.__dict__.setdefault("_annotune_roles", {})
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(project_id=project.pk, user_id=user.pk).values_list("role", flat=True).first()
        )
    role = cache[project.pk]
    if role is None and user.is_superuser:
        return Role.OWNER
    return role


def can_view_project(user, project: Project) -> bool:
    return role_in(user, project) is not None


def can_manage_project(user, project: Project) -> bool:
    return role_in(user, project) == Role.OWNER


def can_annotate(user, project: Project) -> bool:
    return role_in(user, project) in {Role.OWNER, Role.REVIEWER, Role.ANNOTATOR}


def can_review(user, project: Project) -> bool:
    return role_in(user, project) in {Role.OWNER, Role.REVIEWER}


def can_review_example(user, example: Example) -> bool:
    """Reviewers and owners decide on examples, never on their own."""
    return can_review(user, example.project) and example.author_id != user.pk


def can_see_comments(user, example: Example) -> bool:
    """An example's comment thread is between its author and the project's reviewers and owners."""
    return example.author_id == user.pk and can_view_project(user, example.project) or can_review(user, example.project)


def can_train(user, project: Project) -> bool:
    return role_in(user, project) == Role.OWNER


def can_draft_all(user, project: Project) -> bool:
    """ "Draft all": the project's model answers every waiting prompt, written into examples of any author,
    so only those who write examples in bulk (owners, as for imports) start it."""
    return role_in(user, project) == Role.OWNER


def can_edit_example(user, example: Example) -> bool:
    """Authors edit their own drafts and returned examples; owners may edit any editable example."""
    role = role_in(user, example.project)
    if role is None or example.status not in EDITABLE_STATUSES:
        return False
    return example.author_id == user.pk or role == Role.OWNER


def can_submit_example(user, example: Example) -> bool:
    return can_edit_example(user, example)


def project_for(user, project_id) -> Project:
    """The project if the user is a member; Http404 otherwise (outsiders learn nothing).

    Every project request starts here, so it is one hand-written query that also brings the
    caller's role (cached for `role_in`): building the same through the ORM costs a few times more
    CPU than the database spends answering it.
    """
    try:
        pk = int(project_id)
    except (ValueError, TypeError):
        raise Http404("No such project.") from None
    if not 0 < pk < 2**63:  # beyond the id column's range
        raise Http404("No such project.")
    user_id = user.pk if user.is_authenticated else None
    found = list(Project.objects.raw(_PROJECT_WITH_ROLE, [user_id, pk]))
    if not found:
        raise Http404("No such project.")
    project = found[0]
    if user_id is not None:
        user.__dict__.setdefault("_annotune_roles", {})[project.pk] = getattr(project, "viewer_role", None)
    if not can_view_project(user, project):
        raise Http404("No such project.")
    return project


_PROJECT_WITH_ROLE = (
    "SELECT p.*, (SELECT m.role FROM annotation_membership m WHERE m.project_id = p.id AND m.user_id = %s)"
    " AS viewer_role FROM annotation_project p WHERE p.id = %s"
)


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def can_manage_base_models(user) -> bool:
    """The base-model registry (list, add, build a tiny model): staff, and anyone who owns a project
    (an owner picks the base model in the project settings and needs a way to get one)."""
    if not user.is_authenticated:
        return False
    return user.is_staff or user.is_superuser or Membership.objects.filter(user_id=user.pk, role=Role.OWNER).exists()
