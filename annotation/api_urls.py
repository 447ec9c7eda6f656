from django.urls import path

from . import apis

urlpatterns = [
    path("projects/", apis.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", apis.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", apis.MemberListApi.as_view(), name="api-members"),
    path("projects/<int:project_id>/members/<int:user_id>/", apis.MemberDetailApi.as_view(), name="api-member"),
    path("projects/<int:project_id>/examples/", apis.ExampleListApi.as_view(), name="api-examples"),
    path("projects/<int:project_id>/examples/<int:example_id>/", apis.ExampleDetailApi.as_view(), name="api-example"),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/submit/",
        apis.ExampleSubmitApi.as_view(),
        name="api-example-submit",
    ),
    path(
        "projects/<int:project_id>/examples/<int:example_id>/revisions/",
        apis.ExampleRevisionsApi.as_view(),
        name="api-example-revisions",
    ),
]
