"""``{% oidc_label as label %}``: the provider's name when single sign-on is configured."""

from __future__ import annotations

from django import template
from django.conf import settings

from accounts.oidc import oidc_enabled

register = template.Library()


@register.simple_tag
def oidc_label() -> str:
    return str(settings.DSSPORTAL_OIDC_LABEL) if oidc_enabled() else ""
