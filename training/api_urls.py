"""REST API v1 of training: included under api/v1/."""

from django.urls import path

from .apis import base_models, jobs, sweeps

P = "projects/<int:project_id>"
JOB = f"{P}/training-jobs/<int:job_id>"

urlpatterns = [
    # Base models and the training config schema.
    path("base-models/", base_models.BaseModelListApi.as_view(), name="api-base-models"),
    path("training/config-schema/", jobs.ConfigSchemaApi.as_view(), name="api-training-schema"),
    # Training jobs.
    path(f"{P}/training-estimate/", jobs.EstimateApi.as_view(), name="api-training-estimate"),
    path(f"{P}/training-jobs/", jobs.JobListApi.as_view(), name="api-training-jobs"),
    path(f"{JOB}/", jobs.JobDetailApi.as_view(), name="api-training-job"),
    path(f"{JOB}/cancel/", jobs.JobCancelApi.as_view(), name="api-training-job-cancel"),
    path(f"{JOB}/metrics/", jobs.JobMetricsApi.as_view(), name="api-training-job-metrics"),
    path(f"{JOB}/adapter/", jobs.JobAdapterApi.as_view(), name="api-training-job-adapter"),
    # Rank sweeps.
    path(f"{P}/sweeps/", sweeps.SweepListApi.as_view(), name="api-sweeps"),
    path(f"{P}/sweeps/<int:sweep_id>/", sweeps.SweepDetailApi.as_view(), name="api-sweep"),
    path(f"{P}/sweeps/<int:sweep_id>/cancel/", sweeps.SweepCancelApi.as_view(), name="api-sweep-cancel"),
]
