"""Pages of training: included at the site root (project pages under projects/, the registry under base-models/).

Adapters, their operations and the playground are the serving app's (serving/urls.py)."""

from django.urls import path

from .views import base_models, jobs, sweeps, workers

P = "projects/<int:project_id>"

urlpatterns = [
    # Training jobs.
    path(f"{P}/training/", jobs.job_list, name="training-job-list"),
    path(f"{P}/training/control-set/", jobs.control_set, name="training-control-set"),
    path(f"{P}/training/new/", jobs.job_new, name="training-job-new"),
    path(f"{P}/training/one-click/", jobs.job_one_click, name="training-job-one-click"),
    path(f"{P}/training/estimate/", jobs.job_estimate, name="training-job-estimate"),
    path(f"{P}/training/<int:job_id>/", jobs.job_detail, name="training-job-detail"),
    path(f"{P}/training/<int:job_id>/progress/", jobs.job_progress, name="training-job-progress"),
    path(f"{P}/training/<int:job_id>/metrics.json", jobs.job_metrics, name="training-job-metrics"),
    path(f"{P}/training/<int:job_id>/cancel/", jobs.job_cancel, name="training-job-cancel"),
    # Rank sweeps.
    path(f"{P}/training/sweeps/<int:sweep_id>/", sweeps.sweep_detail, name="training-sweep-detail"),
    path(f"{P}/training/sweeps/<int:sweep_id>/cancel/", sweeps.sweep_cancel, name="training-sweep-cancel"),
    # Training workers and the jobs waiting for them (not per project).
    path("training/queue/", workers.training_queue, name="training-queue"),
    # Base models (not per project).
    path("base-models/", base_models.base_model_list, name="base-model-list"),
    path("base-models/add/", base_models.base_model_add, name="base-model-add"),
    path("base-models/build/", base_models.base_model_build, name="base-model-build"),
    path("base-models/<int:base_model_id>/row/", base_models.base_model_row, name="base-model-row"),
]
