"""API routes, included under /api/v1/projects/<project_id>/."""

from django.urls import path

from . import apis

urlpatterns = [
    path("imports/", apis.ImportListApi.as_view(), name="api-imports"),
    path("imports/<int:job_id>/", apis.ImportDetailApi.as_view(), name="api-import"),
    path("imports/<int:job_id>/mapping/", apis.ImportMappingApi.as_view(), name="api-import-mapping"),
    path("imports/<int:job_id>/retry/", apis.ImportRetryApi.as_view(), name="api-import-retry"),
    path("export/", apis.ExportApi.as_view(), name="api-export"),
    path("versions/", apis.VersionListApi.as_view(), name="api-versions"),
    path("versions/<int:number>/", apis.VersionDetailApi.as_view(), name="api-version"),
    path("version-builds/<int:build_id>/", apis.VersionBuildDetailApi.as_view(), name="api-version-build"),
    path("versions/<int:number>/download/", apis.VersionDownloadApi.as_view(), name="api-version-download"),
    path("versions/<int:number>/diff/<int:other>/", apis.VersionDiffApi.as_view(), name="api-version-diff"),
]
