from __future__ import annotations

from django import forms
from django.conf import settings


class RequestListForm(forms.Form):
    text = forms.CharField(
        label="Request list",
        widget=forms.Textarea(attrs={"rows": 10, "cols": 100, "spellcheck": "false"}),
        help_text="One field per line: identifier, RA h m s, Dec d m s, width and height "
        "(arcmin), equinox, survey, mode, compression.",
    )

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if len(text.encode("utf-8")) > settings.DSSPORTAL_MAX_MAIL_BYTES:
            raise forms.ValidationError(
                f"The list is larger than {settings.DSSPORTAL_MAX_MAIL_BYTES // 1000} kB; "
                "split it into several requests."
            )
        if not text.strip():
            raise forms.ValidationError("The list is empty.")
        return text
