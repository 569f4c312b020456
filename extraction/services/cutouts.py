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

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.throttle import (
    Limit,
    RateLimited,
    address_key,
    rate_limit_take,
    rate_limits_take,
)
from extraction.core.cutout import compress, fits_bytes
from extraction.core.httpplates import PlateServerError
from extraction.core.mosaic import MOSAIC_BLANK, expected_mosaic_bytes
from extraction.core.surveys import PlateMode, band_row, expected_data_bytes
from extraction.models import CutoutUsage
from extraction.pictures.preview import preview_png
from extraction.services.extraction import field_cut
from extraction.services.mosaics import mosaic_make
from extraction.services.selection import FieldSkip, FieldTarget

#: Output formats: file suffix and media type.
FORMATS: dict[str, tuple[str, str]] = {
    "fits": (".fits", "application/fits"),
    "fits.gz": (".fits.gz", "application/gzip"),
    "png": (".png", "image/png"),
    "gif": (".gif", "image/gif"),
    "jpeg": (".jpg", "image/jpeg"),
}
#: The quick-look formats and the Pillow format each is written in.
_PICTURES = {"png": "PNG", "gif": "GIF", "jpeg": "JPEG"}
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
    #: The plate cut, or the plates of a mosaic in PLATEn order (comma-separated).
    plate_id: str
    clipped: bool


def _seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


#: What a cut-out may hold beyond its pixels: FITS header blocks (2880 bytes each).
_HEADER_MARGIN_BYTES = 8 * 2880


def _allowance_take(*, user: User, expected: int, now: datetime) -> int:
    """Count one cut-out against the rate and reserve its bytes in the day's allowance,
    under the row lock, before it is cut; returns the bytes reserved. Reserving first is
    what keeps concurrent cut-outs within the allowance (checking, cutting, then counting
    let eight at once overshoot 200 MB to 214.5 MB).

    The rate is the windowed limit of :mod:`accounts.throttle` (one limiter for every rate
    of the portal); it counts inside this transaction, so a cut-out refused for its bytes
    is not counted against the rate.
    """
    reserved = expected + _HEADER_MARGIN_BYTES
    allowance = settings.DSSPORTAL_CUTOUT_DAILY_MB * 1_000_000
    per_minute = settings.DSSPORTAL_CUTOUT_PER_MINUTE
    with transaction.atomic():
        usage, _ = CutoutUsage.objects.select_for_update().get_or_create(user=user, day=now.date())
        if usage.bytes + reserved > allowance:
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
        usage.bytes += reserved
        usage.save(update_fields=["n_cutouts", "bytes"])
    return reserved


def _allowance_settle(*, user: User, reserved: int, size: int, now: datetime) -> None:
    """Replace the reservation by the bytes served (``size`` 0: nothing was served)."""
    CutoutUsage.objects.filter(user=user, day=now.date()).update(
        bytes=F("bytes") + (size - reserved)
    )


def _checked(target: FieldTarget) -> int:
    """The expected data bytes of a field a synchronous cut-out may serve, or a refusal."""
    largest = min(settings.DSSPORTAL_CUTOUT_MAX_ARCMIN, settings.DSSPORTAL_MAX_FIELD_ARCMIN)
    if max(target.width_arcmin, target.height_arcmin) > largest:
        raise CutoutRefused(
            400,
            f"a synchronous cut-out is at most {largest:g}' on a side; send a request list "
            "(POST /api/requests) for larger fields.",
        )
    if not PlateMode(target.mode).makes_image:
        raise CutoutRefused(400, "MODE must be e, c, mosaic or a plate id (mode n: /api/plates).")
    row = band_row(target.survey)
    if row is None:
        raise CutoutRefused(400, f"unknown survey {target.survey!r}.")
    size = (target.width_arcmin, target.height_arcmin)
    if target.mode == PlateMode.MOSAIC:
        return expected_mosaic_bytes(row.survey.name, *size)
    return expected_data_bytes(row.survey.name, *size)


def _file(target: FieldTarget, identifier: str, output_format: str) -> CutoutFile:
    """The cut-out (or mosaic) of a checked field in ``output_format``, not counted."""
    suffix, content_type = FORMATS[output_format]
    mosaic = target.mode == PlateMode.MOSAIC
    try:
        made = _mosaic_file(target, identifier) if mosaic else _cut_file(target, identifier)
    except FieldSkip as skip:
        raise CutoutRefused(404, str(skip)) from None
    except PlateServerError as down:
        raise CutoutRefused(503, f"{down}; try again later.", retry_after_s=60) from None
    fits_payload, picture, plate_ids, clipped = made
    if output_format in _PICTURES:
        data, valid = picture
        payload = preview_png(
            data, valid, max_px=max(data.shape), image_format=_PICTURES[output_format]
        )
    else:
        payload = compress(fits_payload, "G") if output_format == "fits.gz" else fits_payload
    return CutoutFile(
        filename=f"{identifier}{suffix}",
        content_type=content_type,
        payload=payload,
        plate_id=plate_ids,
        clipped=clipped,
    )


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
    expected = _checked(target)
    now = timezone.now()
    reserved = _allowance_take(user=user, expected=expected, now=now)
    served = 0
    try:
        made = _file(target, identifier, output_format)
        served = len(made.payload)
    finally:
        _allowance_settle(user=user, reserved=reserved, size=served, now=now)
    return made


def _anonymous_limits() -> tuple[Limit, Limit]:
    advice = "An API token (account page) raises the limits."
    per_minute = Limit(
        settings.DSSPORTAL_ANON_CUTOUT_PER_MINUTE,
        timedelta(minutes=1),
        f"At most {settings.DSSPORTAL_ANON_CUTOUT_PER_MINUTE} anonymous cut-outs or whole-plate "
        f"downloads a minute from one address. {advice}",
    )
    per_day = Limit(
        settings.DSSPORTAL_ANON_CUTOUT_PER_DAY,
        timedelta(days=1),
        f"At most {settings.DSSPORTAL_ANON_CUTOUT_PER_DAY} anonymous cut-outs or whole-plate "
        f"downloads a day from one address. {advice}",
    )
    return per_minute, per_day


def cutout_make_anonymous(
    *, address: str | None, target: FieldTarget, identifier: str, output_format: str
) -> CutoutFile:
    """The same cut-out for a caller without an account (IVOA clients, old DSS URLs),
    counted per client address (``DSSPORTAL_ANON_CUTOUT_PER_MINUTE`` / ``_PER_DAY``) by the
    portal's one rate limiter (:mod:`accounts.throttle`).

    Raises
    ------
    CutoutRefused
        As :func:`cutout_make`; 429 with the seconds to wait beyond the address's limits.
    """
    _checked(target)
    anonymous_take(address=address)
    return _file(target, identifier, output_format)


def anonymous_take(*, address: str | None) -> None:
    """Count one anonymous call against its address's cut-out limits (a whole-plate download
    counts as one too).

    Raises
    ------
    CutoutRefused
        429 with the seconds to wait when a limit is reached.
    """
    key = address_key(address or "unknown")
    per_minute, per_day = _anonymous_limits()
    try:  # one statement; a refusal by either counts in neither
        rate_limits_take([(f"cutout-minute:{key}", per_minute), (f"cutout-day:{key}", per_day)])
    except RateLimited as limited:
        raise CutoutRefused(429, str(limited), retry_after_s=limited.retry_after_s) from None


_Made = tuple[bytes, tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]], str, bool]


def _cut_file(target: FieldTarget, identifier: str) -> _Made:
    """FITS bytes, pixels for a picture, the plate id and whether it is clipped."""
    cut = field_cut(target=target, identifier=identifier)
    picture = (cut.pixels.data, cut.pixels.valid)
    return fits_bytes(cut.cutout), picture, cut.choice.plate.plate_id, cut.cutout.clipped


def _mosaic_file(target: FieldTarget, identifier: str) -> _Made:
    made = mosaic_make(target=target, identifier=identifier)
    data = made.mosaic.data
    plate_ids = ",".join(u.plate.plate_id for u in made.used)
    blank = data == MOSAIC_BLANK
    return made.fits, (data, ~blank), plate_ids, bool(blank.any())
