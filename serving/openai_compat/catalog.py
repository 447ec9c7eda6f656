"""Which models a token may use and what a `model` id names (the rule is in the package docstring)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404

from annotation import permissions
from annotation.models import Project
from training.models import BaseModel, BaseModelStatus

from ..models import Adapter
from .errors import OpenAIError, model_not_found

BASE_ALIAS = "base"


@dataclass
class ServedModel:
    """A model id the endpoints answer to: a base model alone, or an adapter on its base."""

    id: str
    project: Project
    base_model: BaseModel
    adapter: Adapter | None = None
    aliases: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.adapter.name if self.adapter else "Base model"

    def card(self) -> dict[str, Any]:
        """The model object of `GET /v1/models` (OpenAI's fields, plus vLLM's `root` / `parent`)."""
        created = self.adapter.created_at if self.adapter else self.base_model.created_at
        return {
            "id": self.id,
            "object": "model",
            "created": int(created.timestamp()),
            "owned_by": self.project.name if self.adapter else "annotune",
            "root": self.base_model.name,
            "parent": self.base_model.name if self.adapter else None,
            "project": self.project.pk,
            "aliases": self.aliases,
        }


@dataclass
class Catalog:
    models: list[ServedModel]
    index: dict[str, ServedModel]

    def resolve(self, model: Any) -> ServedModel:
        if not isinstance(model, str) or not model:
            raise OpenAIError("`model` must be a model id from GET /v1/models.", param="model", code="invalid_type")
        try:
            return self.index[model]
        except KeyError:
            raise model_not_found(model) from None


def scope_projects(user, project_header: str | None, only_project: int | None = None) -> list[Project]:
    """The projects a request may use: the one named by the `OpenAI-Project` header, else all the
    user's memberships; with a token limited to one project, that project (another named is not found)."""
    if project_header and project_header.startswith("proj_"):
        project_header = None  # an OpenAI project id (OPENAI_PROJECT_ID in the client's environment)
    if only_project is not None:
        if project_header and project_header.strip() != str(only_project):
            raise OpenAIError(
                f"No project {project_header!r} for this API token: it reaches project {only_project} only.",
                status=404,
                param="OpenAI-Project",
                code="project_not_found",
            )
        project_header = str(only_project)
    if project_header:
        try:
            project = permissions.project_for(user, project_header.strip())
        except Http404:
            raise OpenAIError(
                f"No project {project_header!r} that you are a member of.",
                status=404,
                param="OpenAI-Project",
                code="project_not_found",
            ) from None
        return [project]
    return list(
        Project.objects.filter(memberships__user_id=user.pk).select_related("base_model").distinct().order_by("pk")
    )


def catalog(user, project_header: str | None = None, *, only_project: int | None = None) -> Catalog:
    projects = scope_projects(user, project_header, only_project)
    by_pk = {p.pk: p for p in projects}
    adapters = list(
        Adapter.objects.filter(project_id__in=list(by_pk), archived=False)
        .select_related("base_model")
        .defer("model_card", "samples")
        .order_by("pk")
    )
    served: list[ServedModel] = []
    bases: dict[int, ServedModel] = {}
    candidates = [(p.base_model, p) for p in projects if p.base_model_id]
    candidates += [(a.base_model, by_pk[a.project_id]) for a in adapters]
    for base, project in candidates:
        if base.pk not in bases and base.status == BaseModelStatus.READY:
            bases[base.pk] = ServedModel(id=base.name, project=project, base_model=base)
    served += bases.values()
    served += [
        ServedModel(id=f"adapter-{a.pk}", project=by_pk[a.project_id], base_model=a.base_model, adapter=a)
        for a in adapters
        if a.base_model_id in bases
    ]
    index = {m.id: m for m in served}
    names = Counter(m.adapter.name for m in served if m.adapter)
    for m in served:
        if m.adapter and names[m.adapter.name] == 1 and m.adapter.name not in index and m.adapter.name != BASE_ALIAS:
            m.aliases.append(m.adapter.name)
    if (project_header or only_project is not None) and projects[0].base_model_id in bases and BASE_ALIAS not in index:
        bases[projects[0].base_model_id].aliases.append(BASE_ALIAS)
    for m in served:
        for alias in m.aliases:
            index[alias] = m
    return Catalog(models=served, index=index)
