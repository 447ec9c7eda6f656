"""Page forms: shape only (lengths, required); the services own the rules and their messages."""

from __future__ import annotations

import logging

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm

from .services import mail_send

log = logging.getLogger(__name__)


def _password(label: str, *, required: bool = True, autocomplete: str = "new-password") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class NewAccountFields(forms.Form):
    username = forms.CharField(
        label="Username", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"})
    )
    email = forms.CharField(label="E-mail (optional)", max_length=254, required=False)
    password1 = _password("Password")
    password2 = _password("Password (again)")


class UserCreateForm(NewAccountFields):
    SIGN_IN_CHOICES = [("invite", "Create an invitation link"), ("password", "Set a password now")]
    sign_in = forms.ChoiceField(
        label="How they sign in", choices=SIGN_IN_CHOICES, initial="invite", widget=forms.RadioSelect
    )
    password1 = _password("Password", required=False)
    password2 = _password("Password (again)", required=False)

    def clean(self):
        data = super().clean()
        if data.get("sign_in") == "password" and not data.get("password1"):
            self.add_error("password1", "Type a password, or choose “Create an invitation link”.")
        if data.get("sign_in") == "invite":
            data["password1"] = data["password2"] = ""
        return data


class SignupForm(NewAccountFields):
    pass


class InvitationAcceptForm(forms.Form):
    username = forms.CharField(
        label="Username", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"})
    )
    password1 = _password("New password")
    password2 = _password("Confirm new password")


class ForgotPasswordForm(PasswordResetForm):
    """Django's reset form; accounts still waiting for their first password may ask too, and a mail
    failure is logged instead of failing the page (which must not tell whether the address exists)."""

    email = forms.EmailField(label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    def get_users(self, email):
        return get_user_model()._default_manager.filter(email__iexact=email, is_active=True)

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        from django.template import loader

        subject = loader.render_to_string(subject_template_name, context)
        body = loader.render_to_string(email_template_name, context)
        problem = mail_send(to=to_email, subject=subject, body=body)
        if problem:
            log.warning("password reset mail: %s", problem)
