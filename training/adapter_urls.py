from django.urls import path

from . import adapter_views as views

urlpatterns = [
    path("<int:project_id>/adapters/", views.adapter_list, name="adapter-list"),
    path("<int:project_id>/adapters/compare/", views.adapter_compare, name="adapter-compare"),
    path("<int:project_id>/adapters/combine/", views.adapter_combine, name="adapter-combine"),
    path("<int:project_id>/adapters/<int:adapter_id>/", views.adapter_detail, name="adapter-detail"),
    path("<int:project_id>/adapters/<int:adapter_id>/change/", views.adapter_change, name="adapter-change"),
    path("<int:project_id>/adapters/<int:adapter_id>/delete/", views.adapter_delete, name="adapter-delete"),
    path("<int:project_id>/adapters/<int:adapter_id>/download/", views.adapter_download, name="adapter-download"),
    path("<int:project_id>/adapters/<int:adapter_id>/merge/", views.adapter_merge, name="adapter-merge"),
    path("<int:project_id>/adapter-operations/<int:operation_id>/", views.operation_detail, name="operation-detail"),
    path(
        "<int:project_id>/adapter-operations/<int:operation_id>/download/",
        views.operation_download,
        name="operation-download",
    ),
    path(
        "<int:project_id>/adapter-operations/<int:operation_id>/register/",
        views.operation_register,
        name="operation-register",
    ),
    path("<int:project_id>/playground/", views.playground, name="playground"),
    path("<int:project_id>/playground/<int:request_id>/", views.generation_partial, name="generation-partial"),
]
