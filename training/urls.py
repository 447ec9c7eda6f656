from django.urls import path

from . import found_views, views

urlpatterns = [
    path("<int:project_id>/training/", views.job_list, name="training-job-list"),
    path("<int:project_id>/training/new/", views.job_new, name="training-job-new"),
    path("<int:project_id>/training/one-click/", views.job_one_click, name="training-job-one-click"),
    path("<int:project_id>/training/estimate/", views.job_estimate, name="training-job-estimate"),
    path("<int:project_id>/training/<int:job_id>/", views.job_detail, name="training-job-detail"),
    path("<int:project_id>/training/<int:job_id>/progress/", views.job_progress, name="training-job-progress"),
    path("<int:project_id>/training/<int:job_id>/metrics.json", views.job_metrics, name="training-job-metrics"),
    path("<int:project_id>/training/<int:job_id>/cancel/", views.job_cancel, name="training-job-cancel"),
    path("<int:project_id>/training/<int:job_id>/found/", found_views.job_found, name="training-found"),
    path("<int:project_id>/training/<int:job_id>/found/send-back/", found_views.send_back, name="training-send-back"),
    path("<int:project_id>/adapters/<int:adapter_id>/found/", found_views.adapter_found, name="adapter-found"),
]
