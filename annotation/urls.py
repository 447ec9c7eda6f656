from django.urls import path

from .views import drafts, examples, projects, quality, reviews

urlpatterns = [
    path("", projects.project_list, name="project-list"),
    path("new/", projects.project_create, name="project-create"),
    path("<int:project_id>/", projects.project_detail, name="project-detail"),
    path("<int:project_id>/settings/", projects.project_settings, name="project-settings"),
    path("<int:project_id>/members/", projects.project_members, name="project-members"),
    path("<int:project_id>/members/<int:user_id>/", projects.project_member_change, name="project-member-change"),
    path("<int:project_id>/examples/", examples.example_list, name="example-list"),
    path("<int:project_id>/examples/new/", examples.example_create, name="example-create"),
    path("<int:project_id>/examples/<int:example_id>/", examples.example_detail, name="example-detail"),
    path("<int:project_id>/examples/<int:example_id>/edit/", examples.example_edit, name="example-edit"),
    path("<int:project_id>/examples/<int:example_id>/submit/", examples.example_submit, name="example-submit"),
    # Drafting an answer with the project's model (the editor of a new example, or of a saved one).
    path("<int:project_id>/examples/draft/", drafts.draft_start, name="draft-start"),
    path("<int:project_id>/examples/<int:example_id>/draft/", drafts.draft_start, name="example-draft-start"),
    path("<int:project_id>/examples/drafts/<int:request_id>/", drafts.draft_poll, name="draft-poll"),
    path("<int:project_id>/examples/drafts/<int:request_id>/cancel/", drafts.draft_cancel, name="draft-cancel"),
    # "Draft all": the model answers every example waiting for an answer, on the inference worker.
    path("<int:project_id>/examples/draft-all/", drafts.batch_start, name="draft-batch-start"),
    path("<int:project_id>/examples/draft-all/<int:batch_id>/", drafts.batch_detail, name="draft-batch"),
    path(
        "<int:project_id>/examples/draft-all/<int:batch_id>/progress/",
        drafts.batch_progress,
        name="draft-batch-progress",
    ),
    path("<int:project_id>/examples/draft-all/<int:batch_id>/cancel/", drafts.batch_cancel, name="draft-batch-cancel"),
    path("<int:project_id>/examples/<int:example_id>/comments/", reviews.comment_add, name="example-comment"),
    path("<int:project_id>/examples/<int:example_id>/reopen/", reviews.example_reopen, name="example-reopen"),
    path("<int:project_id>/review/", reviews.review_next, name="review-next"),
    path("<int:project_id>/review/<int:example_id>/", reviews.review_screen, name="review-screen"),
    path("<int:project_id>/review/<int:example_id>/decide/", reviews.review_decide, name="review-decide"),
    path("<int:project_id>/review/<int:example_id>/edit/", reviews.review_edit, name="review-edit"),
    path("<int:project_id>/my-work/", reviews.my_work, name="my-work"),
    path("<int:project_id>/dashboard/", reviews.project_dashboard, name="project-dashboard"),
    path("<int:project_id>/bulk/", reviews.bulk_actions, name="review-bulk"),
    # Quality: inline validation, fixes, knowledge base, data health, check help.
    path("<int:project_id>/examples/validate/", quality.editor_validate, name="editor-validate"),
    path("<int:project_id>/examples/<int:example_id>/fix/", quality.example_fix, name="example-fix"),
    path("<int:project_id>/examples/<int:example_id>/verify-claim/", quality.claim_verify, name="claim-verify"),
    path("<int:project_id>/knowledge/", quality.knowledge, name="knowledge"),
    path("<int:project_id>/data-health/", quality.data_health, name="data-health"),
    path("<int:project_id>/data-health/runs/<int:run_id>/", quality.run_detail, name="validation-run"),
    path(
        "<int:project_id>/data-health/runs/<int:run_id>/progress/",
        quality.run_progress,
        name="validation-run-progress",
    ),
    path("<int:project_id>/checks/", quality.check_help, name="check-help"),
]
