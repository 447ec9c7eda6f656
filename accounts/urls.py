from django.urls import path
from django.views.generic import RedirectView

from . import account_views, views

urlpatterns = [
    path("account/", account_views.account, name="account"),
    path("account/tokens/", account_views.api_tokens, name="api-tokens"),
    path("account/tokens/<str:prefix>/revoke/", account_views.api_token_revoke, name="api-token-revoke"),
    path("account/token/", RedirectView.as_view(pattern_name="api-tokens", permanent=True)),
    path("users/", views.user_list, name="user-list"),
    path("users/<int:user_id>/", views.user_change, name="user-change"),
    path("invite/accept/", views.invitation_accept, name="invitation-accept-here"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("signup/", views.signup, name="signup"),
    path("password-reset/", views.PasswordResetRequestView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetSentView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordSetView.as_view(), name="password_reset_confirm"),
]
