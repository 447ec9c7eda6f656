"""REST API v1 of serving: included under api/v1/."""

from django.urls import path

from .apis import adapters

P = "projects/<int:project_id>"

urlpatterns = [
    # Adapters, generation and adapter operations.
    path(f"{P}/generate", adapters.GenerateApi.as_view(), name="api-generate"),
    path(f"{P}/generations/<int:request_id>/", adapters.GenerationDetailApi.as_view(), name="api-generation"),
    path(f"{P}/adapters/", adapters.AdapterListApi.as_view(), name="api-adapters"),
    path(f"{P}/adapters/combine/", adapters.AdapterCombineApi.as_view(), name="api-adapters-combine"),
    path(f"{P}/adapters/<int:adapter_id>/", adapters.AdapterDetailApi.as_view(), name="api-adapter"),
    path(
        f"{P}/adapters/<int:adapter_id>/download/", adapters.AdapterDownloadApi.as_view(), name="api-adapter-download"
    ),
    path(f"{P}/adapters/<int:adapter_id>/merge/", adapters.AdapterMergeApi.as_view(), name="api-adapter-merge"),
    path(f"{P}/adapters/<int:adapter_id>/gguf/", adapters.AdapterGGUFExportApi.as_view(), name="api-adapter-gguf"),
    path(
        f"{P}/adapter-operations/<int:operation_id>/",
        adapters.OperationDetailApi.as_view(),
        name="api-adapter-operation",
    ),
    path(
        f"{P}/adapter-operations/<int:operation_id>/download/",
        adapters.OperationDownloadApi.as_view(),
        name="api-merged-download",
    ),
    path(
        f"{P}/adapter-operations/<int:operation_id>/register/",
        adapters.OperationRegisterApi.as_view(),
        name="api-merged-register",
    ),
    path(
        f"{P}/adapter-operations/<int:operation_id>/gguf/<str:part>/",
        adapters.OperationGGUFDownloadApi.as_view(),
        name="api-gguf-download",
    ),
]
