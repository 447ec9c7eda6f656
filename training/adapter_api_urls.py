from django.urls import path

from . import adapter_apis as apis

P = "projects/<int:project_id>"

urlpatterns = [
    path(f"{P}/generate", apis.GenerateApi.as_view(), name="api-generate"),
    path(f"{P}/generations/<int:request_id>/", apis.GenerationDetailApi.as_view(), name="api-generation"),
    path(f"{P}/adapters/", apis.AdapterListApi.as_view(), name="api-adapters"),
    path(f"{P}/adapters/combine/", apis.AdapterCombineApi.as_view(), name="api-adapters-combine"),
    path(f"{P}/adapters/<int:adapter_id>/", apis.AdapterDetailApi.as_view(), name="api-adapter"),
    path(f"{P}/adapters/<int:adapter_id>/download/", apis.AdapterDownloadApi.as_view(), name="api-adapter-download"),
    path(f"{P}/adapters/<int:adapter_id>/merge/", apis.AdapterMergeApi.as_view(), name="api-adapter-merge"),
    path(
        f"{P}/adapter-operations/<int:operation_id>/", apis.OperationDetailApi.as_view(), name="api-adapter-operation"
    ),
    path(
        f"{P}/adapter-operations/<int:operation_id>/download/",
        apis.OperationDownloadApi.as_view(),
        name="api-merged-download",
    ),
    path(
        f"{P}/adapter-operations/<int:operation_id>/register/",
        apis.OperationRegisterApi.as_view(),
        name="api-merged-register",
    ),
]
