"""The synthetic sky in the archive: catalogue rows for every synthetic plate, pixel scans.

The sky itself (plate layout, headers, pixels) is ``extraction.synthetic``; this module
puts it into the catalogue and the plate store, through ``plate_register`` like a real import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from extraction import synthetic
from extraction.core.sky import angular_distance_deg
from extraction.models import Plate
from extraction.services.plates import plate_register
from extraction.synthetic import PlateSpec

#: Cards that describe a stored image, not the plate; the catalogue keeps the plate's only.
_LAYOUT = ("SIMPLE  =", "BITPIX  =", "NAXIS", "EXTEND  =", "BZERO   =", "BSCALE  =", "BLANK   =")


def surveys_of(token: str | None) -> list[str]:
    return [token] if token else list(synthetic.SURVEYS)


def _catalogue_header_text(spec: PlateSpec) -> str:
    text = synthetic.plate_header(spec).tostring(endcard=False, padding=False)
    cards = (text[i : i + 80] for i in range(0, len(text), 80))
    return "".join(card for card in cards if not card.startswith(_LAYOUT))


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _catalogue_row(spec: PlateSpec) -> Plate:
    return Plate(
        survey=spec.survey,
        plate_id=spec.plate_id,
        region=spec.region,
        label=spec.label,
        band=spec.band,
        emulsion=spec.emulsion,
        filter_name=spec.filter,
        telescope=spec.telescope,
        epoch=spec.epoch,
        date_obs=_date(spec.date_obs),
        exposure_min=spec.exposure_min,
        ra_deg=spec.ra_deg,
        dec_deg=spec.dec_deg,
        pixel_scale_arcsec=spec.pixel_scale_arcsec,
        plate_width_px=spec.naxis,
        plate_height_px=spec.naxis,
        x0=0,
        y0=0,
        width_px=spec.naxis,
        height_px=spec.naxis,
        header=_catalogue_header_text(spec),
        online=False,
        synthetic=True,
    )


def synthetic_catalogue_register(
    *, surveys: Iterable[str], progress: Callable[[int], object] | None = None
) -> int:
    """Catalogue every synthetic plate of ``surveys`` that is not catalogued yet.

    Plates already in the catalogue (online or not) are left as they are, so re-running
    never undoes pixel data. Returns the number of plates added.
    """
    added = 0
    for survey in surveys:
        known = set(Plate.objects.filter(survey=survey).values_list("plate_id", flat=True))
        missing = [s for s in synthetic.survey_catalogue(survey) if s.plate_id not in known]
        for start in range(0, len(missing), 500):
            batch = [_catalogue_row(spec) for spec in missing[start : start + 500]]
            Plate.objects.bulk_create(batch, ignore_conflicts=True)
            added += len(batch)
            if progress:
                progress(len(batch))
    return added


def synthetic_spec(plate_id: str, surveys: Iterable[str]) -> PlateSpec | None:
    for survey in surveys:
        for spec in synthetic.survey_catalogue(survey):
            if spec.plate_id == plate_id.upper():
                return spec
    return None


@dataclass(frozen=True)
class ScanPlan:
    spec: PlateSpec
    x0: int
    y0: int
    nx: int
    ny: int

    @property
    def pixels(self) -> int:
        return self.nx * self.ny


def scan_around(spec: PlateSpec, x: float, y: float, extent: int | None) -> ScanPlan:
    """A scan of ``extent`` pixels square centred on full-plate pixel (x, y), clipped to the
    plate; the whole plate when ``extent`` is None."""
    if extent is None or extent >= spec.naxis:
        return ScanPlan(spec, 0, 0, spec.naxis, spec.naxis)
    x0 = int(np.clip(round(x - extent / 2), 0, spec.naxis - extent))
    y0 = int(np.clip(round(y - extent / 2), 0, spec.naxis - extent))
    return ScanPlan(spec, x0, y0, extent, extent)


def plates_containing(
    ra_deg: float, dec_deg: float, surveys: Iterable[str]
) -> list[tuple[PlateSpec, float, float]]:
    """Every synthetic plate whose nominal area holds (RA, Dec), with the full-plate pixel."""
    found = []
    for survey in surveys:
        for spec in synthetic.survey_catalogue(survey):
            if angular_distance_deg(ra_deg, dec_deg, spec.ra_deg, spec.dec_deg) > (
                spec.half_size_deg * 1.5
            ):
                continue
            x, y = synthetic.plate_sky_to_pixel(spec, ra_deg, dec_deg)
            if -0.5 <= x[0] < spec.naxis - 0.5 and -0.5 <= y[0] < spec.naxis - 0.5:
                found.append((spec, float(x[0]), float(y[0])))
    return found


def demo_plans() -> list[ScanPlan]:
    return [ScanPlan(s.spec, s.x0, s.y0, s.nx, s.ny) for s in synthetic.demo_scans()]


def synthetic_scan_register(
    plan: ScanPlan,
    *,
    seed: int = 0,
    compression: str = "RICE_1",
    progress: Callable[[int], object] | None = None,
) -> Plate:
    """Render a scan of a synthetic plate, store it and catalogue the plate as online."""
    header = synthetic.plate_header(plan.spec, x0=plan.x0, y0=plan.y0, nx=plan.nx, ny=plan.ny)
    data = synthetic.render_plate_pixels(plan.spec, header, seed=seed, progress=progress)
    return plate_register(
        header=header,
        survey=plan.spec.survey,
        data=data,
        synthetic=True,
        band=plan.spec.band,
        compression=compression,
        source=f"synthetic plate {plan.spec.plate_id}",
    )
