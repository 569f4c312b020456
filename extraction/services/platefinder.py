"""The plate finder: for a position and size, the covering plates of each survey and band.

A read-only selector for the plate-finder page, the JSON API and mode ``n``. The geometry is
``extraction.core.plates`` through ``selection.plates_touching``; this module only groups the
plates by survey/band and says, for each, what a user choosing a plate wants to know.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings

from extraction.core.plates import Coverage, select_touching
from extraction.core.surveys import SURVEY_BANDS, PlateMode, survey_tokens
from extraction.models import Plate
from extraction.services.plates import partly_scanned
from extraction.services.selection import FieldTarget, held_here, plates_touching


def finder_surveys() -> tuple[str, ...]:
    """The survey tokens the finder reports, in the survey table's order: DSS1, DSS2 by band."""
    return tuple(SURVEY_BANDS)


def known_surveys() -> frozenset[str]:
    """Every token a request line may name (DSS2 is DSS2R, the red survey)."""
    return frozenset(survey_tokens())


class FinderInputError(ValueError):
    """A position, size or survey the finder cannot use, with the sentence the user reads."""


@dataclass(frozen=True)
class CoveringPlate:
    """One plate on which some part of the field lies."""

    plate: Plate
    coverage: Coverage

    @property
    def fits(self) -> bool:
        """The whole field lies on the plate's digitized area (on the whole plate, for the
        unscanned rest of a plate scanned here in part)."""
        return self.coverage.full

    @property
    def online(self) -> bool:
        """This archive holds the plate's pixels where the field lies."""
        return held_here(self.plate, self.coverage)

    def as_json(self) -> dict[str, object]:
        plate, cov = self.plate, self.coverage
        return {
            "plate_id": plate.plate_id,
            "survey": plate.survey,
            "region": plate.region,
            "band": plate.band,
            "emulsion": plate.emulsion,
            "filter": plate.filter_name,
            "telescope": plate.telescope,
            "epoch": round(plate.epoch, 3) if plate.epoch is not None else None,
            "date_obs": plate.date_obs.isoformat() if plate.date_obs else None,
            "plate_ra_deg": plate.ra_deg,
            "plate_dec_deg": plate.dec_deg,
            "distance_deg": round(cov.distance_deg, 4),
            "edge_margin_arcmin": (
                round(cov.margin_arcmin, 2) if math.isfinite(cov.margin_arcmin) else None
            ),
            "fraction_covered": round(cov.fraction, 4),
            "centre_on_plate": cov.centre_inside,
            "field_fits": self.fits,
            "online": self.online,
            "scanned_here": "whole"
            if not partly_scanned(plate)
            else ("this part" if cov.scanned else "another part"),
            "synthetic": plate.synthetic,
        }


@dataclass(frozen=True)
class SurveyCoverage:
    """The plates of one survey token (``DSS1``, ``DSS2R`` ...) covering a field."""

    survey: str
    plates: list[CoveringPlate]

    @property
    def mosaic_offered(self) -> bool:
        """No single online plate holds the whole field, but several online plates hold parts
        of it: mode m (mosaic) builds the field from them. (With one partial plate only, a
        mosaic would add nothing to mode e.)"""
        online = [p for p in self.plates if p.online]
        return not any(p.fits for p in online) and len(online) >= 2

    @property
    def n_online(self) -> int:
        return sum(1 for p in self.plates if p.online)

    def as_json(self) -> dict[str, object]:
        return {
            "survey": self.survey,
            "n_plates": len(self.plates),
            "n_fit": sum(1 for p in self.plates if p.fits),
            "mosaic_offered": self.mosaic_offered,
            "plates": [p.as_json() for p in self.plates],
        }


def _checked(ra_deg: float, dec_deg: float, width_arcmin: float, height_arcmin: float) -> None:
    values = (ra_deg, dec_deg, width_arcmin, height_arcmin)
    if not all(math.isfinite(v) for v in values):
        raise FinderInputError("position and size must be finite numbers.")
    if not 0.0 <= ra_deg < 360.0:
        raise FinderInputError("R.A. must be in [0, 360) degrees.")
    if not -90.0 <= dec_deg <= 90.0:
        raise FinderInputError("Dec must be in [-90, +90] degrees.")
    largest = settings.DSSPORTAL_MAX_FIELD_ARCMIN
    for label, size in (("width", width_arcmin), ("height", height_arcmin)):
        if not 0.0 < size <= largest:
            raise FinderInputError(f"{label} must be more than 0 and at most {largest:g} arcmin.")


def plates_covering(
    *,
    ra_deg: float,
    dec_deg: float,
    width_arcmin: float,
    height_arcmin: float,
    surveys: tuple[str, ...] | None = None,
) -> list[SurveyCoverage]:
    """Every plate of each survey token on which any part of the field lies, nearest first.

    Parameters
    ----------
    ra_deg, dec_deg
        Field centre, J2000 degrees.
    width_arcmin, height_arcmin
        Field size, arcmin (at most ``DSSPORTAL_MAX_FIELD_ARCMIN``).
    surveys
        Survey tokens to report (``DSS1``, ``DSS2``, ``DSS2R``, ``DSS2B``, ``DSS2I``);
        default: every row of the survey table (:func:`finder_surveys`).

    Raises
    ------
    FinderInputError
        For a position off the sky, a size out of range or an unknown survey.
    """
    _checked(ra_deg, dec_deg, width_arcmin, height_arcmin)
    surveys = finder_surveys() if surveys is None else surveys
    known = known_surveys()
    unknown = [s for s in surveys if s not in known]
    if unknown:
        raise FinderInputError(
            f"unknown survey {unknown[0]!r}; use one of {', '.join(sorted(known))}."
        )
    result = []
    for survey in surveys:
        target = FieldTarget(
            survey=survey,
            mode=PlateMode.LIST,
            plate_id="",
            ra_deg=ra_deg,
            dec_deg=dec_deg,
            width_arcmin=width_arcmin,
            height_arcmin=height_arcmin,
        )
        rows = select_touching(plates_touching(target))
        result.append(SurveyCoverage(survey, [CoveringPlate(p, c) for p, c in rows]))
    return result
