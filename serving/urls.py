"""Pages of serving: included at the site root (project pages under projects/: adapters, adapter operations,
the playground)."""

from django.urls import path

from .views import adapters

P = "projects/<int:project_id>"

urlpatterns = [
    # Adapters, their operations and the playground.
    path(f"{P}/adapters/", adapters.adapter_list, name="adapter-list"),
    path(f"{P}/adapters/compare/", adapters.adapter_compare, name="adapter-compare"),
    path(f"{P}/adapters/combine/", adapters.adapter_combine, name="adapter-combine"),
    path(f"{P}/adapters/<int:adapter_id>/", adapters.adapter_detail, name="adapter-detail"),
    path(f"{P}/adapters/<int:adapter_id>/change/", adapters.adapter_change, name="adapter-change"),
    path(f"{P}/adapters/<int:adapter_id>/delete/", adapters.adapter_delete, name="adapter-delete"),
    path(f"{P}/adapters/<int:adapter_id>/download/", adapters.adapter_download, name="adapter-download"),
    path(f"{P}/adapters/<int:adapter_id>/merge/", adapters.adapter_merge, name="adapter-merge"),
    path(f"{P}/adapters/<int:adapter_id>/gguf/", adapters.adapter_gguf_export, name="adapter-gguf-export"),
    path(f"{P}/adapter-operations/<int:operation_id>/", adapters.operation_detail, name="operation-detail"),
    path(
        f"{P}/adapter-operations/<int:operation_id>/download/",
        adapters.operation_download,
        name="operation-download",
    ),
    path(
        f"{P}/adapter-operations/<int:operation_id>/register/",
        adapters.operation_register,
        name="operation-register",
    ),
    path(
        f"{P}/adapter-operations/<int:operation_id>/gguf/<str:part>/",
        adapters.operation_gguf_download,
        name="operation-gguf-download",
    ),
    path(f"{P}/playground/", adapters.playground, name="playground"),
    path(f"{P}/playground/<int:request_id>/", adapters.generation_partial, name="generation-partial"),
]
