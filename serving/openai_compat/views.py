"""`/v1/models`, `/v1/models/<id>` and `/v1/chat/completions`, as OpenAI's clients expect them.

API tokens only (`Authorization: Bearer <token>` or `Token <token>`), full or inference-only; no
session, so no CSRF. A token limited to one project sees that project's models only. Left out of
Annotune's own OpenAPI schema: OpenAI's API reference describes these.

A chat completion holds its web thread while it waits for the worker, streamed or not: a WSGI thread
(gunicorn's gthread worker) writes a stream itself, so streaming frees no thread. What bounds them is
a per-process count of waiting threads (ANNOTUNE_GENERATE_WAITERS_PER_PROCESS, below the process's
threads): beyond it the call is answered 429 with Retry-After at once, before anything is queued (the
OpenAI client retries after that delay), so sign-in and saves always find a free thread. A stream is
still the better choice for clients: text arrives as it is written, and a client that leaves is
noticed at the next write, which cancels the request on the worker.
"""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from annotune.authentication import InferenceTokenAuthentication
from annotune.parsers import StrictJSONParser
from training.services import model_sources, quotas

from . import catalog as catalog_selectors
from . import errors, services
from .schema import parse_chat_request

PROJECT_HEADER = "HTTP_OPENAI_PROJECT"


class OpenAIView(APIView):
    schema = None  # not part of Annotune's OpenAPI schema
    authentication_classes = [InferenceTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self):
        return errors.exception_handler

    def catalog(self, request) -> catalog_selectors.Catalog:
        only = getattr(request.auth, "project_id", None)
        return catalog_selectors.catalog(request.user, request.META.get(PROJECT_HEADER), only_project=only)


class ModelListView(OpenAIView):
    def get(self, request):
        return Response({"object": "list", "data": [m.card() for m in self.catalog(request).models]})


class ModelDetailView(OpenAIView):
    def get(self, request, model: str):
        return Response(self.catalog(request).resolve(model).card())


class ChatCompletionView(OpenAIView):
    def post(self, request):
        params = parse_chat_request(request.data)
        served = self.catalog(request).resolve(params.model)
        staff = model_sources.is_staff(request.user)
        slot = quotas.WAITERS.hold()  # 429 when this process has no thread to spare for waiting
        try:
            generation = services.chat_completion_queue(user=request.user, served=served, params=params)
            timeout = float(settings.ANNOTUNE_GENERATE_TIMEOUT_SECONDS)
            if not params.stream:
                try:
                    answer = services.chat_completion_wait(
                        generation,
                        model_id=served.id,
                        timeout=timeout,
                        staff=staff,
                        gone=lambda: quotas.client_gone(request.META),
                    )
                finally:
                    slot.release()
                return Response(answer)
            events = services.chat_completion_stream(
                generation, model_id=served.id, include_usage=params.include_usage, timeout=timeout, staff=staff
            )
        except BaseException:
            slot.release()
            raise
        response = StreamingHttpResponse(quotas.HeldStream(events, slot), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response
