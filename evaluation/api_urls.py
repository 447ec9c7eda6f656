"""REST API v1 of evaluation: included under api/v1/."""

from django.urls import path

from .apis import evaluations, found

P = "projects/<int:project_id>"
EVAL = f"{P}/evaluations/<int:evaluation_id>"
JOB = f"{P}/training-jobs/<int:job_id>"

urlpatterns = [
    # Blind pairwise evaluations.
    path(f"{P}/evaluations/", evaluations.EvaluationListApi.as_view(), name="api-evaluations"),
    path(f"{EVAL}/", evaluations.EvaluationDetailApi.as_view(), name="api-evaluation"),
    path(f"{EVAL}/next/", evaluations.EvaluationNextApi.as_view(), name="api-evaluation-next"),
    path(f"{EVAL}/items/<int:item_id>/judgment/", evaluations.JudgmentApi.as_view(), name="api-evaluation-judge"),
    path(f"{EVAL}/close/", evaluations.EvaluationCloseApi.as_view(), name="api-evaluation-close"),
    path(f"{EVAL}/preferences/", evaluations.PreferencesApi.as_view(), name="api-evaluation-preferences"),
    path(f"{P}/preferences/", evaluations.ProjectPreferencesApi.as_view(), name="api-project-preferences"),
    # What training found: a job's per-example scores, the ranked lists, send-back, forgetting.
    path(f"{JOB}/scores/", found.JobScoresApi.as_view(), name="api-training-job-scores"),
    path(f"{JOB}/found/", found.JobFoundApi.as_view(), name="api-training-job-found"),
    path(f"{JOB}/send-back/", found.JobSendBackApi.as_view(), name="api-training-job-send-back"),
    path(f"{JOB}/forgetting/", found.JobForgettingApi.as_view(), name="api-training-job-forgetting"),
]
