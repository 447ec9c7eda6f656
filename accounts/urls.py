from django.urls import path

from . import views

urlpatterns = [
    path("users/", views.user_list, name="user-list"),
    path("users/<int:user_id>/", views.user_change, name="user-change"),
    path("invite/accept/", views.invitation_accept, name="invitation-accept-here"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("signup/", views.signup, name="signup"),
    path("password-reset/", views.PasswordResetRequestView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetSentView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordSetView.as_view(), name="password_reset_confirm"),
]
