"""Mosaics (mode ``m``): which plates build a field's mosaic, opened through the plate store.

The maths is ``extraction.core.mosaic``; this module picks the online plates of the field's
survey and band that cover any part of it, opens each through the plate store (only boxes
are read), builds the mosaic and says which plates it used. Staged fields
(``services.extraction``) and the synchronous cut-out (``services.cutouts``) both call
:func:`mosaic_make`.
"""

from __future__ import annotations

from dataclasses import dataclass

from astropy.io import fits

from extraction.core.mosaic import (
    Mosaic,
    MosaicError,
    MosaicPlate,
    mosaic_build,
    mosaic_fits_bytes,
    mosaic_grid,
    mosaic_header,
)
from extraction.core.platestore import PlateChanged
from extraction.models import FieldPlate, Plate
from extraction.services.platestores import plate_store
from extraction.services.selection import (
    FieldSkip,
    FieldTarget,
    held_here,
    not_held,
    plates_touching,
    survey_and_band,
    survey_words,
)

#: Plates are looked for over a field this much larger than asked: the plate-aligned box of
#: ``Coverage`` and the north-up grid differ by the plate's small rotation on the sky.
_SEARCH_MARGIN = 1.1


@dataclass(frozen=True)
class UsedPlate:
    """A plate of a mosaic: the catalogue row, its offset (ADU) and its share of pixels."""

    plate: Plate
    offset: float
    pixels: int


@dataclass(frozen=True)
class MosaicMade:
    """A mosaic built for a field, with the plates it used in PLATEn order."""

    mosaic: Mosaic
    header: fits.Header
    used: tuple[UsedPlate, ...]

    @property
    def fits(self) -> bytes:
        return mosaic_fits_bytes(self.mosaic, self.header)

    @property
    def reason(self) -> str:
        """E.g. ``m: mosaic of 2 plates: 0412 (61%), 0413 (39%)``, for the request page."""
        total = sum(u.pixels for u in self.used) or 1
        shares = ", ".join(f"{u.plate.plate_id} ({u.pixels / total:.0%})" for u in self.used)
        blank = self.mosaic.blank_fraction
        tail = f"; {blank:.0%} of the field lies on no online plate (BLANK)" if blank else ""
        return f"m: mosaic of {len(self.used)} plate(s): {shares}{tail}"


def mosaic_candidates(target: FieldTarget) -> list[Plate]:
    """The online plates of the field's survey and band on which some part of it lies.

    Raises
    ------
    FieldSkip
        When no online plate touches the field (the reason names an offline one if any).
    """
    wider = FieldTarget(
        survey=target.survey,
        mode=target.mode,
        plate_id="",
        ra_deg=target.ra_deg,
        dec_deg=target.dec_deg,
        width_arcmin=target.width_arcmin * _SEARCH_MARGIN,
        height_arcmin=target.height_arcmin * _SEARCH_MARGIN,
    )
    touching = [(p, c) for p, c in plates_touching(wider) if c.covered]
    online = [p for p, c in touching if held_here(p, c) and p.data_file]
    if not online:
        words = survey_words(target.survey)
        offline = (
            f"; plate {touching[0][0].plate_id} does, but {not_held(*touching[0])}"
            if touching
            else ""
        )
        raise FieldSkip(f"no online {words} plate in this archive covers the field{offline}.")
    return sorted(online, key=lambda p: p.plate_id)


def mosaic_make(*, target: FieldTarget, identifier: str) -> MosaicMade:
    """Build the mosaic of a field from every online plate that covers part of it, each
    opened through the plate store (local tiles, or HTTP ranges with DSSPORTAL_PLATES_URL).

    A plate re-imported while it was being read (``PlateChanged``) makes the mosaic start
    again, so that its pixels come from one version of each plate.

    Raises
    ------
    FieldSkip
        When no online plate covers any part of the field.
    PlateServerError
        When the plate server cannot serve a plate (the callers say so).
    """
    plates = mosaic_candidates(target)
    survey, _band = survey_and_band(target.survey)
    grid = mosaic_grid(
        target.ra_deg, target.dec_deg, target.width_arcmin, target.height_arcmin, survey
    )
    for attempt in range(3):
        try:
            mosaic = mosaic_build(grid, _opened(plates))
            break
        except MosaicError as empty:
            raise FieldSkip(f"no online plate covers the field ({empty}).") from None
        except PlateChanged:
            if attempt == 2:
                raise
    header = mosaic_header(
        mosaic,
        identifier=identifier,
        ra_deg=target.ra_deg,
        dec_deg=target.dec_deg,
        survey=target.survey.upper(),
    )
    by_id = {p.plate_id: p for p in plates}
    used = tuple(
        UsedPlate(by_id[m.plate_id], offset, pixels)
        for m, offset, pixels in zip(mosaic.plates, mosaic.offsets, mosaic.pixels, strict=True)
    )
    return MosaicMade(mosaic, header, used)


def _opened(plates: list[Plate]) -> list[MosaicPlate]:
    store = plate_store()
    inputs = []
    for plate in plates:
        opened = store.open(plate.data_file)
        inputs.append(
            MosaicPlate(plate.plate_id, plate.region, plate.epoch, opened.reader, opened.geometry)
        )
    return inputs


def mosaic_plates_by_field(*, request_id: int) -> dict[int, list[str]]:
    """The plate ids of each mosaic field of a request, in PLATEn order (one query)."""
    rows = FieldPlate.objects.filter(field__request_id=request_id).order_by("field", "position")
    out: dict[int, list[str]] = {}
    for field_id, code in rows.values_list("field_id", "plate_code"):
        out.setdefault(field_id, []).append(code)
    return out
