"""Reads of projects: the list a user sees, members, example counts by status."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from ..models import Example, ExampleStatus, Membership, Project


def project_list_for_user(user) -> QuerySet[Project]:
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(memberships__user=user)
    return projects.select_related("base_model").order_by("name", "id")


def project_members(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


def project_status_counts(project: Project) -> dict[str, int]:
    rows = Example.objects.filter(project=project).values("status").annotate(n=Count("id")).order_by()
    counts = {status: 0 for status in ExampleStatus.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
