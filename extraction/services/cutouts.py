"""Synchronous cut-outs for the API: one field cut and returned at once, never staged.

The cut is ``extraction.field_cut``, the same step staged fields go through, so the FITS is
the same file a request list would have produced. Each user has a daily allowance of bytes
(``DSSPORTAL_CUTOUT_DAILY_MB``, per UTC day) and a rate (``DSSPORTAL_CUTOUT_PER_MINUTE``),
both counted in the database so that every web worker sees the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.throttle import Limit, RateLimited, rate_limit_take
from extraction.core.cutout import compress, fits_bytes
from extraction.core.httpplates import PlateServerError
from extraction.core.surveys import PlateMode, band_row, expected_data_bytes
from extraction.models import CutoutUsage
from extraction.pictures.preview import preview_png
from extraction.services.extraction import field_cut
from extraction.services.selection import FieldSkip, FieldTarget

#: Output formats: file suffix and media type.
FORMATS: dict[str, tuple[str, str]] = {
    "fits": (".fits", "application/fits"),
    "fits.gz": (".fits.gz", "application/gzip"),
    "png": (".png", "image/png"),
}
_RATE_WINDOW = timedelta(minutes=1)


class CutoutRefused(Exception):
    """A cut-out that is not made: HTTP status, the reason, and when to try again."""

    def __init__(self, status: int, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class CutoutFile:
    filename: str
    content_type: str
    payload: bytes
    plate_id: str
    clipped: bool


def _seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def _allowance_take(*, user: User, expected: int, now: datetime) -> None:
    """Count one cut-out against the rate, after checking the day's bytes leave room.

    The rate is the windowed limit of :mod:`accounts.throttle` (one limiter for every rate
    of the portal); it counts inside this transaction, so a cut-out refused for its bytes
    is not counted against the rate.
    """
    allowance = settings.DSSPORTAL_CUTOUT_DAILY_MB * 1_000_000
    per_minute = settings.DSSPORTAL_CUTOUT_PER_MINUTE
    with transaction.atomic():
        usage, _ = CutoutUsage.objects.select_for_update().get_or_create(user=user, day=now.date())
        if usage.bytes + expected > allowance:
            raise CutoutRefused(
                429,
                f"your daily allowance of {settings.DSSPORTAL_CUTOUT_DAILY_MB} MB of "
                f"synchronous cut-outs is used ({usage.bytes / 1e6:.1f} MB today, this one "
                "needs about "
                f"{expected / 1e6:.1f} MB); it renews at 00:00 UTC. Send a request list for "
                "larger jobs.",
                retry_after_s=_seconds_to_midnight(now),
            )
        plural = "s" if per_minute != 1 else ""
        rate = Limit(per_minute, _RATE_WINDOW, f"At most {per_minute} cut-out{plural} a minute.")
        try:
            rate_limit_take(key=f"cutout:{user.pk}", limit=rate)
        except RateLimited as limited:
            raise CutoutRefused(429, str(limited), retry_after_s=limited.retry_after_s) from None
        usage.n_cutouts += 1
        usage.save(update_fields=["n_cutouts"])


def _allowance_spend(*, user: User, size: int, now: datetime) -> None:
    CutoutUsage.objects.filter(user=user, day=now.date()).update(bytes=F("bytes") + size)


def cutout_make(
    *, user: User, target: FieldTarget, identifier: str, output_format: str
) -> CutoutFile:
    """Cut one image field now and return the file, counted in the user's allowance.

    Raises
    ------
    CutoutRefused
        400 for a field too large or a mode without an image, 404 when no plate serves it,
        429 beyond the rate or the daily allowance (with the seconds to wait), 503 when the
        plate server (``DSSPORTAL_PLATES_URL``) cannot serve the plate.
    """
    largest = min(settings.DSSPORTAL_CUTOUT_MAX_ARCMIN, settings.DSSPORTAL_MAX_FIELD_ARCMIN)
    if max(target.width_arcmin, target.height_arcmin) > largest:
        raise CutoutRefused(
            400,
            f"a synchronous cut-out is at most {largest:g}' on a side; send a request list "
            "(POST /api/requests) for larger fields.",
        )
    if not PlateMode(target.mode).makes_image:
        raise CutoutRefused(400, "MODE must be e, c or a plate id (mode n: /api/plates).")
    suffix, content_type = FORMATS[output_format]
    now = timezone.now()
    row = band_row(target.survey)
    if row is None:
        raise CutoutRefused(400, f"unknown survey {target.survey!r}.")
    expected = expected_data_bytes(row.survey.name, target.width_arcmin, target.height_arcmin)
    _allowance_take(user=user, expected=expected, now=now)
    try:
        cut = field_cut(target=target, identifier=identifier)
    except FieldSkip as skip:
        raise CutoutRefused(404, str(skip)) from None
    except PlateServerError as down:
        raise CutoutRefused(503, f"{down}; try again later.", retry_after_s=60) from None
    if output_format == "png":
        data = cut.pixels.data
        payload = preview_png(data, cut.pixels.valid, max_px=max(data.shape))
    else:
        payload = fits_bytes(cut.cutout)
        if output_format == "fits.gz":
            payload = compress(payload, "G")
    _allowance_spend(user=user, size=len(payload), now=now)
    return CutoutFile(
        filename=f"{identifier}{suffix}",
        content_type=content_type,
        payload=payload,
        plate_id=cut.choice.plate.plate_id,
        clipped=cut.cutout.clipped,
    )
