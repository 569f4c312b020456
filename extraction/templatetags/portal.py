"""Template filters of the portal pages."""

from __future__ import annotations

from django import template

from extraction.core.textformat import human_bytes as _human_bytes

register = template.Library()


@register.filter
def human_bytes(size: int | float | None) -> str:
    """Sizes in decimal units, as in the mail (``8.6 MB``); ``-`` when unknown."""
    return "-" if size is None else _human_bytes(size)
