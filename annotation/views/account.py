"""Account pages: the API token."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token


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
