"""Small text helpers shared by mails, replies, commands and web pages.

Pure Python; no Django. Sizes are in decimal units (1 kB = 1000 bytes), as quotas and the
original service's figures are.
"""

from __future__ import annotations

__all__ = ["human_bytes"]

_UNITS = ("bytes", "kB", "MB", "GB", "TB")


def human_bytes(size: float | None) -> str:
    """``'512 bytes'``, ``'720.0 kB'``, ``'26.0 MB'``: decimal units, one decimal above bytes;
    ``'-'`` when unknown (``None``)."""
    if size is None:
        return "-"
    for unit in _UNITS:
        if abs(size) < 1000 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
