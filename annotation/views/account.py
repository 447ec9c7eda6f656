"""Account pages: the signed-in user's account (password change) and API token."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from accounts import services as account_services

from ..selectors import projects as project_selectors


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@login_required
@require_http_methods(["GET", "POST"])
def account(request):
    """Who you are, your projects, and "Change password" (Django's form: current password, validators)."""
    form = PasswordChangeForm(request.user, request.POST or None)
    form.fields["old_password"].label = "Current password"
    form.fields["new_password2"].label = "Confirm new password"
    if request.method == "POST" and form.is_valid():
        account_services.password_set(user=request.user, password=form.cleaned_data["new_password1"])
        update_session_auth_hash(request, request.user)  # stay logged in here; other sessions end
        flash.success(request, "Password changed.")
        return redirect("account")
    context = {
        "form": form,
        "projects": project_selectors.project_list_for_user(request.user)[:100],
        "has_token": Token.objects.filter(user=request.user).exists(),
    }
    return render(request, "accounts/account.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request):
    token = Token.objects.filter(user=request.user).first()
    if request.method == "POST":
        if token is not None:
            token.delete()
        token = Token.objects.create(user=request.user)
        flash.success(request, "New API token created. The previous one, if any, no longer works.")
        return render(request, "annotation/api_token.html", {"token": token, "show": True})
    return render(request, "annotation/api_token.html", {"token": token, "show": False})
