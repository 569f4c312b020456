"""Registration with a confirmed address, the confirmation link, and the user's account page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import AddressForm, RegistrationForm
from accounts.models import User
from accounts.services import AccountError, address_add, address_confirm, user_register
from extraction.core.textformat import human_bytes
from extraction.services.requests import bytes_reserved
from extraction.services.staging import staging_bytes_used


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except AccountError as exc:
            form.add_error(None, str(exc))
        else:
            return render(request, "registration/register_done.html", {"email": user.email})
    return render(request, "registration/register.html", {"form": form})


def confirm_address(request: HttpRequest, token: str) -> HttpResponse:
    try:
        address = address_confirm(token=token)
    except AccountError as exc:
        return render(request, "registration/confirm.html", {"error": str(exc)}, status=400)
    return render(request, "registration/confirm.html", {"address": address})


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
    used, reserved = staging_bytes_used(user=user), bytes_reserved(user=user)
    context = {
        "form": form,
        "addresses": user.addresses.order_by("-primary", "email"),
        "used": human_bytes(used),
        "reserved": human_bytes(reserved),
        "quota": human_bytes(user.quota_bytes),
        "free": human_bytes(max(0, user.quota_bytes - used - reserved)),
        "directories": user.staging_directories.filter(deleted_at__isnull=True),
    }
    return render(request, "registration/account.html", context)
