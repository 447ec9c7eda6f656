from django.urls import path

from .apis import examples, projects

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
]
