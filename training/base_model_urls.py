from django.urls import path

from . import base_model_views as views

urlpatterns = [
    path("", views.base_model_list, name="base-model-list"),
    path("add/", views.base_model_add, name="base-model-add"),
    path("build/", views.base_model_build, name="base-model-build"),
    path("<int:base_model_id>/row/", views.base_model_row, name="base-model-row"),
]
