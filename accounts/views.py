"""Registration with a confirmed address, the confirmation link, log-in help, password reset,
and the user's account page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from accounts.forms import (
    AddressForm,
    LoginForm,
    PortalPasswordResetForm,
    PortalSetPasswordForm,
    RegistrationForm,
    ResendConfirmationForm,
)
from accounts.models import User
from accounts.services import (
    AccountError,
    address_add,
    address_confirm,
    confirmation_claim,
    confirmation_resend,
    password_reset_allow,
    user_register,
)
from accounts.throttle import client_address


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user_register(
                username=data["username"],
                email=data["email"],
                password=data["password"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                affiliation=data["affiliation"],
                client_address=client_address(request),
            )
        except AccountError as exc:
            form.add_error(None, str(exc))
        else:
            return render(request, "registration/register_done.html", {"email": data["email"]})
    return render(request, "registration/register.html", {"form": form})


@require_http_methods(["GET", "POST"])
def resend_confirmation(request: HttpRequest) -> HttpResponse:
    # The log-in page links here with the address that waits for its confirmation.
    form = ResendConfirmationForm(
        request.POST or None, initial={"email": request.GET.get("email", "")[:254]}
    )
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            confirmation_resend(email=email, client_address=client_address(request))
        except AccountError as exc:
            form.add_error(None, str(exc))
        else:
            return render(request, "registration/resend_done.html", {"email": email})
    return render(request, "registration/resend.html", {"form": form})


@require_http_methods(["GET", "POST"])
def confirm_address(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (naming the account the address would join), POST confirms: a GET never
    changes anything, so a mail scanner that opens every link confirms nothing."""
    try:
        if request.method == "GET":
            claim = confirmation_claim(token=token)
            return render(request, "registration/confirm.html", {"claim": claim})
        address = address_confirm(token=token)
    except AccountError as exc:
        return render(request, "registration/confirm.html", {"error": str(exc)}, status=400)
    return render(request, "registration/confirm.html", {"address": address})


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PortalPasswordResetForm

    def form_valid(self, form: Any) -> HttpResponse:
        try:
            password_reset_allow(
                email=form.cleaned_data["email"], client_address=client_address(self.request)
            )
        except AccountError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = PortalSetPasswordForm


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("password_change_done")


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = AddressForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            address = address_add(user=user, email=form.cleaned_data["email"])
        except AccountError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(
                request, f"A confirmation link was sent to {address.email}; open it to use it."
            )
            return redirect("account")
    context = {
        "form": form,
        "addresses": user.addresses.order_by("-primary", "email"),
        "directories": user.staging_directories.filter(deleted_at__isnull=True),
    }
    return render(request, "registration/account.html", context)
