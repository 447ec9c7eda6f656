from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .throttling import ThrottledLoginView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="project-list", permanent=False)),
    path("login/", ThrottledLoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("accounts.urls")),
    # Browsers ask for /favicon.ico on pages without an icon link (the admin): the static SVG answers.
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg", permanent=False)),
    path("admin/", admin.site.urls),
    path("projects/", include("annotation.urls")),
    path("", include("training.urls")),  # projects/<id>/training/…, base-models/…
    path("", include("serving.urls")),  # projects/<id>/adapters|adapter-operations|playground/…
    path("", include("evaluation.urls")),  # projects/<id>/evaluations/…
    path("api/v1/", include("annotation.api_urls")),
    path("api/v1/", include("training.api_urls")),
    path("api/v1/", include("serving.api_urls")),
    path("api/v1/", include("evaluation.api_urls")),
    path("projects/<int:project_id>/datasets/", include("curated_data.urls")),
    path("api/v1/projects/<int:project_id>/", include("curated_data.api_urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # OpenAI-compatible endpoints (serving/openai_compat): clients use base_url="http://host/v1".
    path("v1/", include("serving.openai_compat.urls")),
    # The split view serves Swagger UI's setup as a script file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

# Errors Django answers itself: JSON under /api/, pages elsewhere.
handler404 = "annotune.middleware.page_not_found"
handler400 = "annotune.middleware.bad_request"
# 503 with Retry-After when the database is unreachable (see annotune.middleware.DatabaseUnavailableMiddleware).
handler500 = "annotune.middleware.server_error"
