from django.urls import path

from .apis import examples, projects, reviews

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
]
