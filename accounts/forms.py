from __future__ import annotations

from typing import Any

from django import forms


class RegistrationForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Letters, digits and @ . + - _ only.")
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
