from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordResetForm,
    SetPasswordForm,
    UserChangeForm,
)
from django.core.exceptions import ValidationError

from accounts.models import EmailAddress, User
from accounts.selectors import address_owner, login_refusal_reason
from accounts.services import AUTO_GENERATED_HEADERS, password_reset_done
from accounts.throttle import LoginThrottled
from dssportal.infra import emails


class RegistrationForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        help_text="Letters, digits and @ . + - _ only. An e-mail address as username must be "
        "the address you register with.",
    )
    first_name = forms.CharField(label="Given name", max_length=150)
    last_name = forms.CharField(label="Family name", max_length=150)
    affiliation = forms.CharField(
        max_length=200, help_text="Institute, observatory or university; 'none' if private."
    )
    email = forms.EmailField(
        label="E-mail address", help_text="Requests are accepted from this address once confirmed."
    )
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(
        label="Password (again)", widget=forms.PasswordInput, strip=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


class AddressForm(forms.Form):
    email = forms.EmailField(label="Another address to send requests from")


class ResendConfirmationForm(forms.Form):
    email = forms.EmailField(label="The address you registered with")


class ThrottledLoginMixin:
    """Log-in forms that say why they refuse: a throttled account or address, an address
    not confirmed yet, a closed account (the last two only to whoever knows the password)."""

    cleaned_data: dict[str, Any]
    #: The address waiting for confirmation when that is why the log-in was refused.
    unconfirmed_email: str | None = None

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()  # type: ignore[misc]
        except LoginThrottled as exc:
            raise ValidationError(str(exc), code="throttled") from None

    def get_invalid_login_error(self) -> ValidationError:
        reason = login_refusal_reason(
            self.cleaned_data.get("username") or "", self.cleaned_data.get("password") or ""
        )
        if reason:
            self.unconfirmed_email = reason.unconfirmed_email
            return ValidationError(reason.reason, code="inactive")
        return super().get_invalid_login_error()  # type: ignore[misc]


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class PortalPasswordResetForm(PasswordResetForm):
    """A reset link for the account that confirmed the address typed (any of its confirmed
    addresses, not only the primary one). Django mails it to the primary address: the
    reset token covers that address, so the link dies if the primary address changes."""

    def get_users(self, email: str) -> Iterator[User]:
        rows = EmailAddress.objects.select_related("user").filter(
            email__iexact=email.strip(), verified=True, user__is_active=True
        )
        for row in rows:
            if row.user.has_usable_password():
                yield row.user

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        """Through the one send helper, with the text of ``emails/password-reset-*``."""
        emails.send("password-reset", to=to_email, context=context, headers=AUTO_GENERATED_HEADERS)


class PortalSetPasswordForm(SetPasswordForm):
    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=commit)
        password_reset_done(user=user)
        return user


class AdminUserChangeForm(UserChangeForm):
    """The admin's user form: a primary address that is another user's registered address
    would send this user's mail to that person and let them act for this user by mail."""

    def clean_email(self) -> str:
        email = str(self.cleaned_data.get("email") or "").strip()
        owner = address_owner(email, other_than=self.instance) if email else None
        if owner is not None:
            raise ValidationError(
                f"{email} is a registered address of user {owner.username}; remove it there first."
            )
        return email
