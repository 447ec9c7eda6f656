"""The signed-in person's own account: who they are, their password, their API tokens."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from annotation.selectors import projects as project_selectors
from annotune.errors import ApplicationError

from . import selectors as account_selectors
from . import services as account_services
from .models import TokenScope


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
        "token_count": account_selectors.api_tokens_of(request.user).filter(revoked=False).count(),
    }
    return render(request, "accounts/account.html", context, status=400 if form.errors else 200)


# What the creation form offers for "Expires"; the service takes any number of days.
EXPIRY_CHOICES = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """The person's API tokens: create one (its key shown once, on this answer only), list, revoke."""
    projects = list(project_selectors.project_list_for_user(request.user)[:200])
    form = {"name": "", "scope": TokenScope.FULL, "project": "", "expires_in_days": ""}
    created, key, errors, status = None, None, {}, 200
    if request.method == "POST":
        form = {field: request.POST.get(field, "").strip() for field in form}
        by_pk = {str(p.pk): p for p in projects}
        try:
            if form["project"] and form["project"] not in by_pk:
                problem = "Choose a project you are a member of."
                raise ApplicationError(problem, {"project": [problem]})
            created, key = account_services.api_token_create(
                user=request.user,
                name=form["name"],
                scope=form["scope"],
                project=by_pk.get(form["project"]),
                expires_in_days=form["expires_in_days"] or None,
            )
            form = {"name": "", "scope": TokenScope.FULL, "project": "", "expires_in_days": ""}
        except ApplicationError as error:
            errors, status = error.extra or {"name": [error.message]}, 400
    context = {
        "tokens": account_selectors.api_tokens_of(request.user)[:200],
        "created": created,
        "key": key,
        "form": form,
        "errors": errors,
        "projects": projects,
        "scopes": TokenScope.choices,
        "expiry_choices": EXPIRY_CHOICES,
        "base_url": request.build_absolute_uri("/v1"),
        "api_url": request.build_absolute_uri("/api/v1/"),
    }
    response = render(request, "accounts/api_tokens.html", context, status=status)
    if key:
        response["Cache-Control"] = "no-store"  # the key is on this answer only: keep it out of caches
    return response


@login_required
@require_POST
def api_token_revoke(request, prefix: str):
    token = account_selectors.api_token_of(request.user, prefix)
    account_services.api_token_revoke(token=token, actor=request.user)
    flash.success(request, f"Token “{token.name}” revoked: clients using it are refused from now on.")
    return redirect("api-tokens")
