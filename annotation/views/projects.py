"""Project pages: list, create, overview, settings, members."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from annotune.errors import ApplicationError

from .. import permissions
from ..forms import MemberAddForm, ProjectForm
from ..models import ExampleStatus, Role
from ..selectors import projects as project_selectors
from ..services import projects as project_services


@login_required
def project_list(request):
    projects = project_selectors.project_list_for_user(request.user)
    return render(request, "annotation/project_list.html", {"projects": projects})


def _apply_service_errors(form, exc: ApplicationError) -> None:
    for field, problems in exc.extra.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_service_error(field, str(problem))
    if not exc.extra:
        form.add_error(None, exc.message)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_services.project_create(user=request.user, **form.service_fields())
        except ApplicationError as exc:
            _apply_service_errors(form, exc)
        else:
            flash.success(request, f"Project “{project.name}” created. Add members and write the first example.")
            return redirect("project-detail", project_id=project.pk)
    return render(request, "annotation/project_form.html", {"form": form, "creating": True})


@login_required
def project_detail(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    context = {
        "project": project,
        "role": permissions.role_in(request.user, project),
        "counts": [
            (status, ExampleStatus(status).label, n)
            for status, n in project_selectors.project_status_counts(project).items()
        ],
        "members": project_selectors.project_members(project),
        "can_manage": permissions.can_manage_project(request.user, project),
    }
    return render(request, "annotation/project_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project_id: int):
    project = permissions.project_for(request.user, project_id)
    permissions.require(permissions.can_manage_project(request.user, project), "Only owners can change settings.")
    form = ProjectForm(request.POST or None, initial=ProjectForm.initial_for(project))
    if request.method == "POST" and form.is_valid():
        try:
            project_services.project_update(project=project, user=request.user, **form.service_fields())
        except ApplicationError as exc:
            _apply_service_errors(form, exc)
        else:
            flash.success(request, "Settings saved.")
            return redirect("project-detail", project_id=project.pk)
    return render(request, "annotation/project_form.html", {"form": form, "project": project, "creating": False})


def _members_page(request, project, *, form=None, new_link=None, status: int = 200):
    can_manage = permissions.can_manage_project(request.user, project)
    context = {
        "project": project,
        "members": project_selectors.project_members(project),
        "form": form if form is not None else MemberAddForm(),
        "can_manage": can_manage,
        "roles": Role.choices,
        "invitations": account_selectors.open_invitations(project) if can_manage else [],
        "new_link": new_link,
        "now": timezone.now(),
        "mail_configured": account_services.mail_configured(),
    }
    return render(request, "annotation/project_members.html", context, status=status)


def _apply_member_errors(form, exc: ApplicationError) -> None:
    """The service's reason ("'x' cannot be a username.") and what to do, next to the field."""
    for field, problems in exc.extra.items():
        target = "identifier" if field in ("identifier", "username") else field if field in form.fields else None
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(target, f"{exc.message} {problem}")
    if not exc.extra:
        form.add_error(None, exc.message)


def _invitation_link(request, invitation, token: str) -> dict:
    url = request.build_absolute_uri(reverse("invitation-accept", args=[token]))
    mail_problem = None
    if invitation.email:
        mail_problem = account_services.invitation_mail(invitation=invitation, url=url)
    return {
        "invitation": invitation,
        "url": url,
        "mailed": bool(invitation.email) and mail_problem is None,
        "mail_problem": mail_problem,
    }


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request, project_id: int):
    """Members; owners invite people by username or e-mail (a one-time link, shown here once, with
    which they join; the same answer whether or not they have an account), and renew or revoke
    pending invitations."""
    project = permissions.project_for(request.user, project_id)
    if request.method == "GET":
        return _members_page(request, project)
    permissions.require(permissions.can_manage_project(request.user, project), "Only owners can add members.")
    action = request.POST.get("action", "add")
    if action in ("revoke-invitation", "renew-invitation"):
        invitation = account_selectors.open_invitation_get(project, request.POST.get("invitation"))
        try:
            if action == "revoke-invitation":
                account_services.invitation_revoke(invitation=invitation, actor=request.user)
                flash.success(request, f"Invitation for {invitation.invitee} revoked; its link no longer works.")
            else:
                invitation, token = account_services.invitation_renew(invitation=invitation, actor=request.user)
                flash.success(request, f"New link for {invitation.invitee}; the previous one no longer works.")
                return _members_page(request, project, new_link=_invitation_link(request, invitation, token))
        except ApplicationError as exc:
            flash.error(request, exc.message)
        return redirect("project-members", project_id=project.pk)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            result = project_services.member_add_or_invite(project=project, actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _apply_member_errors(form, exc)
        else:
            if result.membership is not None:
                membership = result.membership
                flash.success(request, f"{membership.user.username} added as {membership.get_role_display().lower()}.")
                return redirect("project-members", project_id=project.pk)
            link = _invitation_link(request, result.invitation, result.token)
            flash.success(request, f"Invitation created for {result.invitation.invitee}: they join once they accept.")
            return _members_page(request, project, new_link=link)
    return _members_page(request, project, form=form, status=400)


@login_required
@require_POST
def project_member_change(request, project_id: int, user_id: int):
    project = permissions.project_for(request.user, project_id)
    membership = project_selectors.project_members(project).filter(user_id=user_id).first()
    if membership is None:
        raise Http404("No such member.")
    try:
        if request.POST.get("action") == "remove":
            project_services.member_remove(membership=membership, actor=request.user)
            flash.success(request, f"{membership.user.username} removed.")
        else:
            project_services.member_set_role(membership=membership, actor=request.user, role=request.POST.get("role"))
            flash.success(request, f"{membership.user.username} is now {request.POST.get('role')}.")
    except ApplicationError as exc:
        flash.error(request, exc.message)
    return redirect("project-members", project_id=project.pk)
