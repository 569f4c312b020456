"""SODA cut-outs of one plate, and the old DSS URLs, through the synchronous cut-out service.

Both go through ``services.cutouts`` (``field_cut``, the step staged fields take), so a SODA
cut-out of a plate is the same file ``/api/cutout`` gives for that plate and field. Callers
with an API token spend their user's cut-out allowance; anonymous ones (pyvo's
``processed()``, Aladin, old scripts) are counted per client address.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from extraction.core.legacyurls import LegacyField
from extraction.core.regions import Region, bounding_field
from extraction.models import Plate
from extraction.services.cutouts import (
    CutoutFile,
    CutoutRefused,
    cutout_make,
    cutout_make_anonymous,
)
from extraction.services.selection import FieldTarget, catalogue_memoised

#: The OBJECT (and file stem) of a SODA cut-out, as ``/api/cutout`` names one without ID.
SODA_IDENTIFIER = "cutout"


@dataclass(frozen=True)
class CutoutCaller:
    """Who asks: a user (by API token) or an anonymous client address."""

    user: User | None
    address: str | None


def _make(
    caller: CutoutCaller, target: FieldTarget, identifier: str, output_format: str
) -> CutoutFile:
    if caller.user is not None:
        return cutout_make(
            user=caller.user, target=target, identifier=identifier, output_format=output_format
        )
    return cutout_make_anonymous(
        address=caller.address, target=target, identifier=identifier, output_format=output_format
    )


def soda_cutout(
    *, caller: CutoutCaller, plate: Plate, region: Region, output_format: str = "fits"
) -> CutoutFile:
    """The cut-out of ``plate`` holding ``region`` (see ``regions.bounding_field``).

    Raises
    ------
    CutoutRefused
        As ``/api/cutout``: 400 too large, 404 the plate's pixels are not online or it does
        not cover the region, 429 beyond the caller's limits.
    """
    ra, dec, width, height = bounding_field(region)
    if min(width, height) <= 0.0:
        raise CutoutRefused(400, "the region has no extent; give a radius or a polygon.")
    target = FieldTarget(
        survey=plate.survey,
        mode="plate",
        plate_id=plate.plate_id,
        ra_deg=ra,
        dec_deg=dec,
        width_arcmin=width,
        height_arcmin=height,
    )
    with catalogue_memoised(known=[plate]):  # the plate the ID named is not read again
        return _make(caller, target, SODA_IDENTIFIER, output_format)


def legacy_cutout(*, caller: CutoutCaller, field: LegacyField) -> CutoutFile:
    """The cut-out an old DSS URL asks for: the first of its surveys that serves the field.

    Raises
    ------
    CutoutRefused
        The last survey's refusal when none serves it (404), or a limit (400, 429).
    """
    refused: CutoutRefused | None = None
    for survey in field.surveys:
        target = FieldTarget(
            survey=survey,
            mode="e",
            plate_id="",
            ra_deg=field.ra_deg,
            dec_deg=field.dec_deg,
            width_arcmin=field.width_arcmin,
            height_arcmin=field.height_arcmin,
        )
        try:
            made = _make(caller, target, field.identifier, field.output_format)
        except CutoutRefused as exc:
            if exc.status != 404:
                raise
            refused = exc
            continue
        if field.band is not None:
            _require_band(made, survey, field.band)
        return made
    assert refused is not None
    raise refused


def _require_band(made: CutoutFile, survey: str, band: str) -> None:
    plate = Plate.objects.filter(survey=survey[:4], plate_id=made.plate_id).first()
    if plate is not None and plate.band != band:
        raise CutoutRefused(
            404,
            f"no {survey} plate of band {band} covers the field here (plate {plate.plate_id} "
            f"is of band {plate.band or '?'}); v=1 serves whichever DSS1 plate covers it.",
        )
