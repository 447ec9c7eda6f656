"""Reads of base models."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import BaseModel


def base_model_list() -> QuerySet[BaseModel]:
    return BaseModel.objects.order_by("name")
