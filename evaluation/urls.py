"""Pages of evaluation: included at the site root (project pages under projects/; "what training found" keeps
the paths it had under the training app's jobs and adapters)."""

from django.urls import path

from .views import evaluations, found

P = "projects/<int:project_id>"

urlpatterns = [
    # Blind pairwise evaluations.
    path(f"{P}/evaluations/", evaluations.evaluation_list, name="evaluation-list"),
    path(f"{P}/evaluations/<int:evaluation_id>/", evaluations.evaluation_detail, name="evaluation-detail"),
    path(f"{P}/evaluations/<int:evaluation_id>/judge/", evaluations.evaluation_judge, name="evaluation-judge"),
    path(f"{P}/evaluations/<int:evaluation_id>/close/", evaluations.evaluation_close, name="evaluation-close"),
    path(
        f"{P}/evaluations/<int:evaluation_id>/judgments/<int:judgment_id>/promote/",
        evaluations.judgment_promote,
        name="evaluation-judgment-promote",
    ),
    path(
        f"{P}/evaluations/<int:evaluation_id>/preferences.jsonl",
        evaluations.evaluation_preferences,
        name="evaluation-preferences",
    ),
    # Every preference of the project (corrected drafts and judgments) as DPO data.
    path(f"{P}/preferences.jsonl", evaluations.project_preferences, name="project-preferences"),
    # What training found: per-example loss after a job, and sending examples back to review.
    path(f"{P}/training/<int:job_id>/found/", found.job_found, name="training-found"),
    path(f"{P}/training/<int:job_id>/found/send-back/", found.send_back, name="training-send-back"),
    path(f"{P}/adapters/<int:adapter_id>/found/", found.adapter_found, name="adapter-found"),
]
