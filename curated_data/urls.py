"""Pages, included under /projects/<project_id>/datasets/."""

from django.urls import path

from . import views

urlpatterns = [
    path("import/", views.import_page, name="dataset-import"),
    path("import/<int:job_id>/", views.import_detail, name="dataset-import-detail"),
    path("import/<int:job_id>/progress/", views.import_progress, name="dataset-import-progress"),
    path("import/<int:job_id>/mapping/", views.import_mapping, name="dataset-import-mapping"),
    path("import/<int:job_id>/retry/", views.import_retry, name="dataset-import-retry"),
    path("export/", views.export_page, name="dataset-export"),
    path("versions/", views.version_list, name="dataset-versions"),
    path("versions/<int:number>/", views.version_detail, name="dataset-version"),
    path("versions/builds/<int:build_id>/", views.version_build, name="dataset-version-build"),
    path(
        "versions/builds/<int:build_id>/progress/", views.version_build_progress, name="dataset-version-build-progress"
    ),
    path("versions/<int:number>/download/<str:part>/", views.version_download, name="dataset-version-download"),
    path("versions/diff/", views.version_diff, name="dataset-version-diff"),
]
