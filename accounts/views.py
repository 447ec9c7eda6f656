"""Account pages: users (staff; owners for reset links), invitation links, sign-up, password reset."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

from annotune.errors import ApplicationError

from . import permissions, selectors, services
from .forms import ForgotPasswordForm, InvitationAcceptForm, SignupForm, UserCreateForm
from .tokens import password_link_tokens

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def apply_errors(form, exc: ApplicationError) -> None:
    """A service's field errors onto the form's fields (the rest above the form)."""
    for field, problems in exc.extra.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(field if field in form.fields else None, str(problem))
    if not exc.extra:
        form.add_error(None, exc.message)


# --- Users page -----------------------------------------------------------------------------------


def _users_context(request, *, form=None, link=None, status_note=None):
    actor = request.user
    q = (request.GET.get("q") or "").strip()[:100]
    staff = permissions.can_manage_users(actor)
    users_qs = selectors.user_list(q=q) if staff else selectors.users_of_owned_projects(actor, q=q)
    users = list(users_qs[: selectors.USER_LIST_LIMIT])
    return {
        "staff": staff,
        "users": users,
        "truncated": len(users) == selectors.USER_LIST_LIMIT,
        "q": q,
        "form": form if form is not None else (UserCreateForm() if staff else None),
        "link_allowed": permissions.password_link_allowed(actor, users),
        "active_changeable": {u.pk for u in users if permissions.can_change_active(actor, u)},
        "link": link,
        "mail_note": status_note,
        "mail_configured": services.mail_configured(),
        "reset_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }


def _require_users_page(user) -> None:
    if not permissions.can_see_users_page(user):
        raise Http404("No such page.")  # like projects: people without a say learn nothing


def _mail_password_link(user, url: str, *, new: bool) -> str | None:
    if not user.email:
        return None
    subject = "Your Annotune account" if new else "Reset your Annotune password"
    intro = "An account was created for you on Annotune" if new else "Someone asked for a new password for you"
    body = (
        f"{intro} (username: {user.username}).\n\nOpen this link to set your password "
        f"(it works once, for {settings.PASSWORD_RESET_TIMEOUT // 3600} hours):\n\n{url}\n"
    )
    return services.mail_send(to=user.email, subject=subject, body=body)


@login_required
@require_http_methods(["GET", "POST"])
def user_list(request):
    _require_users_page(request.user)
    if request.method == "GET":
        return render(request, "accounts/user_list.html", _users_context(request))
    if not permissions.can_manage_users(request.user):
        raise Http404("No such page.")
    form = UserCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_create(
                actor=request.user,
                username=data["username"],
                email=data["email"],
                password=data["password1"] or None,
                password2=data["password2"],
            )
        except ApplicationError as exc:
            apply_errors(form, exc)
        else:
            if data["sign_in"] == "password":
                flash.success(request, f"User {user.username} created; they can log in with the password you set.")
                return redirect("user-list")
            link = services.password_link_create(actor=request.user, user=user)
            url = request.build_absolute_uri(link.path)
            note = _mail_password_link(user, url, new=True)
            flash.success(request, f"User {user.username} created. Give them the link below to set their password.")
            context = _users_context(request, link={"user": user, "url": url, "new": True}, status_note=note)
            return render(request, "accounts/user_list.html", context)
    return render(request, "accounts/user_list.html", _users_context(request, form=form), status=400)


@login_required
@require_POST
def user_change(request, user_id: int):
    _require_users_page(request.user)
    target = selectors.user_get(user_id)
    if (
        not permissions.can_manage_users(request.user)
        and not selectors.users_of_owned_projects(request.user).filter(pk=target.pk).exists()
    ):
        raise Http404("No such user.")  # owners act only on members of their projects
    action = request.POST.get("action", "")
    try:
        if action == "reset-link":
            link = services.password_link_create(actor=request.user, user=target)
            url = request.build_absolute_uri(link.path)
            note = _mail_password_link(target, url, new=False)
            context = _users_context(request, link={"user": target, "url": url, "new": False}, status_note=note)
            return render(request, "accounts/user_list.html", context)
        if action in ("deactivate", "activate"):
            services.user_set_active(actor=request.user, user=target, active=action == "activate")
            flash.success(request, f"{target.username} {'re' if action == 'activate' else 'de'}activated.")
        else:
            raise ApplicationError(f"Unknown action {action!r}: use reset-link, deactivate or activate.")
    except ApplicationError as exc:
        flash.error(request, exc.message)
    return redirect(reverse("user-list"))


# --- invitation links -----------------------------------------------------------------------------


def _suggested_username(invitation) -> str:
    if invitation.username:
        return invitation.username
    local = invitation.email.split("@", 1)[0]
    return "".join(c for c in local if c.isalnum() or c in "._+-")[:150]


# The invitation's token leaves the address bar (and the access log) after the first request, as
# Django's password reset does: it moves into the session and the page continues at /invite/accept/.
INVITATION_SESSION_KEY = "_invitation_token"


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str | None = None):
    from_session = token is None
    if from_session:
        token = request.session.get(INVITATION_SESSION_KEY) or ""
    invitation = selectors.invitation_by_token(token)
    problem = services.invitation_problem(invitation)
    if problem is not None:
        status = 404 if invitation is None else 410
        return render(request, "accounts/invitation_invalid.html", {"message": problem}, status=status)
    if not from_session and request.method == "GET":
        request.session[INVITATION_SESSION_KEY] = token
        return redirect("invitation-accept-here")
    join_problem = services.invitation_join_problem(invitation, request.user)
    join_error = None
    form = InvitationAcceptForm(initial={"username": _suggested_username(invitation)})
    if request.method == "POST" and request.POST.get("action") == "join":
        try:
            project = services.invitation_join(token=token, user=request.user)
        except ApplicationError as exc:
            if "invitation" in exc.extra:
                return render(request, "accounts/invitation_invalid.html", {"message": exc.message}, status=410)
            join_error = exc.message
        else:
            request.session.pop(INVITATION_SESSION_KEY, None)
            flash.success(request, f"Welcome to {project.name}: you are now {invitation.role} there.")
            return redirect("project-detail", project_id=project.pk)
    elif request.method == "POST":
        form = InvitationAcceptForm(request.POST, initial={"username": _suggested_username(invitation)})
        if form.is_valid():
            data = form.cleaned_data
            try:
                user, project = services.invitation_accept(
                    token=token, username=data["username"], password=data["password1"], password2=data["password2"]
                )
            except ApplicationError as exc:
                if "invitation" in exc.extra:
                    return render(request, "accounts/invitation_invalid.html", {"message": exc.message}, status=410)
                apply_errors(form, exc)
            else:
                login(request, user, backend=MODEL_BACKEND)
                flash.success(request, f"Welcome, {user.username}: you are now {invitation.role} of {project.name}.")
                return redirect("project-detail", project_id=project.pk)
    context = {
        "invitation": invitation,
        "form": form,
        "fixed_username": bool(invitation.username),
        "can_join": request.user.is_authenticated and join_problem is None,
        "join_problem": join_error or (join_problem if request.user.is_authenticated else None),
        "login_url": f"{reverse('login')}?{urlencode({'next': reverse('invitation-accept-here')})}",
    }
    status = 400 if form.errors or join_error else 200
    return render(request, "accounts/invitation_accept.html", context, status=status)


# --- sign-up (off unless ANNOTUNE_SIGNUP) ---------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request):
    if not settings.ANNOTUNE_SIGNUP:
        raise Http404("Sign-up is turned off.")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.signup(
                username=data["username"], email=data["email"], password=data["password1"], password2=data["password2"]
            )
        except ApplicationError as exc:
            apply_errors(form, exc)
        else:
            login(request, user, backend=MODEL_BACKEND)
            flash.success(request, f"Welcome, {user.username}. Create a project or ask an owner to add you to one.")
            return redirect("project-list")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


# --- password reset (Django's views and token generator) ------------------------------------------


class PasswordResetRequestView(auth_views.PasswordResetView):
    """ "Forgot password?": mails a one-time link when e-mail is configured; otherwise says whom to ask."""

    form_class = ForgotPasswordForm
    token_generator = password_link_tokens
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_context_data(self, **kwargs):
        return super().get_context_data(mail_configured=services.mail_configured(), **kwargs)

    def post(self, request, *args, **kwargs):
        if not services.mail_configured():
            return self.render_to_response(self.get_context_data(form=self.get_form()), status=503)
        return super().post(request, *args, **kwargs)


class PasswordResetSentView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The one-time link: "Set your password"; a used, expired or bad link says so. The token is checked
    on every request (`accounts.tokens`: the account's memberships, and who made the link may still)."""

    token_generator = password_link_tokens
    template_name = "registration/password_reset_confirm.html"
    post_reset_login = True
    post_reset_login_backend = MODEL_BACKEND
    success_url = reverse_lazy("project-list")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form):
        response = super().form_valid(form)
        flash.success(self.request, "Password set. You are logged in.")
        return response
