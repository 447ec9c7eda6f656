"""Mounted at /v1/ (annotune/urls.py): OpenAI clients use `base_url="http://host/v1"`."""

from django.urls import path, re_path

from . import errors, views

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="openai-models"),
    path("models/<path:model>", views.ModelDetailView.as_view(), name="openai-model"),
    path("chat/completions", views.ChatCompletionView.as_view(), name="openai-chat-completions"),
    re_path(r"^.*$", errors.not_found_view),
]
