from django.urls import path

from . import apis, found_apis

urlpatterns = [
    path("base-models/", apis.BaseModelListApi.as_view(), name="api-base-models"),
    path("training/config-schema/", apis.ConfigSchemaApi.as_view(), name="api-training-schema"),
    path("projects/<int:project_id>/training-estimate/", apis.EstimateApi.as_view(), name="api-training-estimate"),
    path("projects/<int:project_id>/training-jobs/", apis.JobListApi.as_view(), name="api-training-jobs"),
    path("projects/<int:project_id>/training-jobs/<int:job_id>/", apis.JobDetailApi.as_view(), name="api-training-job"),
    path(
        "projects/<int:project_id>/training-jobs/<int:job_id>/cancel/",
        apis.JobCancelApi.as_view(),
        name="api-training-job-cancel",
    ),
    path(
        "projects/<int:project_id>/training-jobs/<int:job_id>/metrics/",
        apis.JobMetricsApi.as_view(),
        name="api-training-job-metrics",
    ),
    path(
        "projects/<int:project_id>/training-jobs/<int:job_id>/adapter/",
        apis.JobAdapterApi.as_view(),
        name="api-training-job-adapter",
    ),
    path(
        "projects/<int:project_id>/training-jobs/<int:job_id>/scores/",
        found_apis.JobScoresApi.as_view(),
        name="api-training-job-scores",
    ),
    path(
        "projects/<int:project_id>/training-jobs/<int:job_id>/found/",
        found_apis.JobFoundApi.as_view(),
        name="api-training-job-found",
    ),
    path(
        "projects/<int:project_id>/training-jobs/<int:job_id>/send-back/",
        found_apis.JobSendBackApi.as_view(),
        name="api-training-job-send-back",
    ),
    path(
        "projects/<int:project_id>/training-jobs/<int:job_id>/forgetting/",
        found_apis.JobForgettingApi.as_view(),
        name="api-training-job-forgetting",
    ),
]
