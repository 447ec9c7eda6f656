"""Pages of training: included at the site root (project pages under projects/, the registry under base-models/)."""

from django.urls import path

from .views import adapters, base_models, jobs, sweeps, workers

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
    # Training workers and the jobs waiting for them (not per project).
    path("training/queue/", workers.training_queue, name="training-queue"),
    # Base models (not per project).
    path("base-models/", base_models.base_model_list, name="base-model-list"),
    path("base-models/add/", base_models.base_model_add, name="base-model-add"),
    path("base-models/build/", base_models.base_model_build, name="base-model-build"),
    path("base-models/<int:base_model_id>/row/", base_models.base_model_row, name="base-model-row"),
]
