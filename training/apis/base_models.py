"""Base models API: the list a launch picks from. `source` (a hub id or a server path) is staff-only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors import base_models as selectors
from ..services import model_sources


class BaseModelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    source = serializers.CharField(required=False, help_text="Hub id or local path: staff only")
    architecture = serializers.CharField()
    parameter_count = serializers.IntegerField(allow_null=True)
    has_chat_template = serializers.BooleanField()


class BaseModelListApi(APIView):
    @extend_schema(responses={200: BaseModelOutput(many=True)}, operation_id="base_models_list")
    def get(self, request):
        rows = BaseModelOutput(selectors.base_model_list(), many=True).data
        if not model_sources.is_staff(request.user):
            for row in rows:
                row.pop("source", None)
        return Response(rows)
