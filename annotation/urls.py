from django.urls import path

from . import views

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("new/", views.project_create, name="project-create"),
    path("<int:project_id>/", views.project_detail, name="project-detail"),
    path("<int:project_id>/settings/", views.project_settings, name="project-settings"),
    path("<int:project_id>/members/", views.project_members, name="project-members"),
    path("<int:project_id>/members/<int:user_id>/", views.project_member_change, name="project-member-change"),
    path("<int:project_id>/examples/", views.example_list, name="example-list"),
    path("<int:project_id>/examples/new/", views.example_create, name="example-create"),
    path("<int:project_id>/examples/<int:example_id>/", views.example_detail, name="example-detail"),
    path("<int:project_id>/examples/<int:example_id>/edit/", views.example_edit, name="example-edit"),
    path("<int:project_id>/examples/<int:example_id>/submit/", views.example_submit, name="example-submit"),
]
