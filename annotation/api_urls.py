from django.urls import path

from .apis import examples, projects, quality, reviews

urlpatterns = [
    path("projects/", projects.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", projects.MemberListApi.as_view(), name="api-members"),
    path("projects/<int:project_id>/members/<int:user_id>/", projects.MemberDetailApi.as_view(), name="api-member"),
    path("projects/<int:project_id>/examples/", examples.ExampleListApi.as_view(), name="api-examples"),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/",
        examples.ExampleDetailApi.as_view(),
        name="api-example",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/submit/",
        examples.ExampleSubmitApi.as_view(),
        name="api-example-submit",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/revisions/",
        examples.ExampleRevisionsApi.as_view(),
        name="api-example-revisions",
    ),
    path("projects/<int:project_id>/review/next/", reviews.ReviewQueueNextApi.as_view(), name="api-review-next"),
    path("projects/<int:project_id>/review/queue/", reviews.ReviewQueueApi.as_view(), name="api-review-queue"),
    path("projects/<int:project_id>/review/stats/", reviews.ReviewStatsApi.as_view(), name="api-review-stats"),
    path("projects/<int:project_id>/review/bulk/", reviews.BulkApi.as_view(), name="api-review-bulk"),
    path("projects/<int:project_id>/my-work/", reviews.MyWorkApi.as_view(), name="api-my-work"),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/approve/",
        reviews.ReviewApproveApi.as_view(),
        name="api-example-approve",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/reject/",
        reviews.ReviewRejectApi.as_view(),
        name="api-example-reject",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/request-changes/",
        reviews.ReviewRequestChangesApi.as_view(),
        name="api-example-request-changes",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/edit-and-approve/",
        reviews.ReviewEditApproveApi.as_view(),
        name="api-example-edit-approve",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/reopen/",
        reviews.ExampleReopenApi.as_view(),
        name="api-example-reopen",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/reviews/",
        reviews.ExampleReviewsApi.as_view(),
        name="api-example-reviews",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/comments/",
        reviews.ExampleCommentsApi.as_view(),
        name="api-example-comments",
    ),
    # Validation
    path("projects/<int:project_id>/validate/", quality.ValidateDraftApi.as_view(), name="api-validate"),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/findings/",
        quality.ExampleFindingsApi.as_view(),
        name="api-example-findings",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/fix/",
        quality.ExampleFixApi.as_view(),
        name="api-example-fix",
    ),
    path("projects/<int:project_id>/knowledge/documents/", quality.DocumentListApi.as_view(), name="api-documents"),
    path(
        "projects/<int:project_id>/knowledge/documents/<int:document_id>/",
        quality.DocumentDetailApi.as_view(),
        name="api-document",
    ),
    path("projects/<int:project_id>/knowledge/facts/", quality.FactListApi.as_view(), name="api-facts"),
    path("projects/<int:project_id>/knowledge/facts/<int:fact_id>/", quality.FactDetailApi.as_view(), name="api-fact"),
    path("projects/<int:project_id>/knowledge/claims/", quality.ClaimListApi.as_view(), name="api-claims"),
    path(
        "projects/<int:project_id>/knowledge/claims/<int:claim_id>/", quality.ClaimDetailApi.as_view(), name="api-claim"
    ),
    path("projects/<int:project_id>/validation-runs/", quality.RunListApi.as_view(), name="api-validation-runs"),
    path(
        "projects/<int:project_id>/validation-runs/<int:run_id>/",
        quality.RunDetailApi.as_view(),
        name="api-validation-run",
    ),
    path("projects/<int:project_id>/checks/", quality.CheckRegistryApi.as_view(), name="api-checks"),
]
