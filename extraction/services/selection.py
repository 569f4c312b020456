"""Plate selection for a field: which plate serves it, and why (modes e, c, PLATE-ID, n).

The maths lives in ``extraction.core.plates``; this module feeds it the catalogue from the
database: a cached angular index per survey/band, then exact geometry on the few plates left.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db.models import Count, Max, QuerySet

from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra
from extraction.core.plates import (
    PLATE_SIZE_PX,
    Coverage,
    PlateIndex,
    search_radius_deg,
    select_centre,
    select_edge,
    select_touching,
)
from extraction.models import Plate
from extraction.services.plates import plate_geometry


class FieldSkip(Exception):
    """A field that cannot be served, with the reason the user reads."""


@dataclass(frozen=True)
class FieldTarget:
    """What selection needs of a field (a ``Field`` row or a parsed line)."""

    survey: str  # DSS1, DSS2, DSS2R, DSS2B, DSS2I
    mode: str  # e, c, n, plate
    plate_id: str
    ra_deg: float
    dec_deg: float
    width_arcmin: float
    height_arcmin: float


@dataclass(frozen=True)
class PlateChoice:
    plate: Plate
    coverage: Coverage
    clipped: bool
    reason: str


def survey_and_band(token: str) -> tuple[str, str | None]:
    """``DSS2R`` -> (``DSS2``, ``R``); ``DSS1`` -> (``DSS1``, None)."""
    return (token[:4], token[4:] or None)


# -- Cached catalogue index ---------------------------------------------------------------

_lock = threading.Lock()
_indexes: dict[tuple[str, str | None], tuple[object, PlateIndex, list[int]]] = {}


def _plates(survey: str, band: str | None) -> QuerySet[Plate]:
    plates = Plate.objects.filter(survey=survey)
    return plates.filter(band=band) if band else plates


def _index(survey: str, band: str | None) -> tuple[PlateIndex, list[int]]:
    """The angular index of a survey's plates, rebuilt when the catalogue changes."""
    stamp = _plates(survey, band).aggregate(n=Count("id"), changed=Max("updated_at"))
    key = (survey, band)
    with _lock:
        cached = _indexes.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
    rows = list(_plates(survey, band).values_list("id", "plate_id", "ra_deg", "dec_deg"))
    index = PlateIndex([r[2] for r in rows], [r[3] for r in rows], [r[1] for r in rows])
    ids = [r[0] for r in rows]
    with _lock:
        _indexes[key] = (stamp, index, ids)
    return index, ids


def plates_touching(target: FieldTarget) -> list[tuple[Plate, Coverage]]:
    """Every plate of the field's survey (and band) with its coverage of the field."""
    survey, band = survey_and_band(target.survey)
    index, ids = _index(survey, band)
    if not ids:
        return []
    radius = search_radius_deg(
        plate_size_px=PLATE_SIZE_PX[survey],
        scale_arcsec=1.7 if survey == "DSS1" else 1.0,
        width_arcmin=target.width_arcmin,
        height_arcmin=target.height_arcmin,
    )
    near = [ids[i] for i in index.candidates(target.ra_deg, target.dec_deg, radius)]
    pairs = []
    for plate in Plate.objects.filter(pk__in=near):
        coverage = plate_geometry(plate).coverage(
            target.ra_deg, target.dec_deg, target.width_arcmin, target.height_arcmin
        )
        pairs.append((plate, coverage))
    return pairs


def _survey_words(token: str) -> str:
    survey, band = survey_and_band(token)
    return f"{survey} {band}-band" if band else survey


def plate_select(target: FieldTarget) -> PlateChoice:
    """The plate that serves an image field (modes e, c and PLATE-ID).

    Raises
    ------
    FieldSkip
        When no plate of the survey serves the field, or the named plate is unknown or
        does not cover it.
    """
    if target.mode == "plate":
        return _named_plate(target)
    pairs = plates_touching(target)
    words = _survey_words(target.survey)
    if target.mode == "e":
        chosen = select_edge(pairs)
        if chosen is None:
            raise FieldSkip(f"no {words} plate in this archive covers any part of the field.")
        ranked = sorted((c.margin_arcmin for _, c in pairs if c.full), reverse=True)
        if chosen.clipped:
            reason = (
                f"e: no {words} plate covers the whole field; plate {chosen.plate.plate_id} "
                f"covers the largest part ({chosen.coverage.fraction:.0%})"
            )
        else:
            runner_up = f", next best {ranked[1]:.1f}'" if len(ranked) > 1 else ""
            reason = (
                f"e: furthest from the plate edge ({chosen.coverage.margin_arcmin:.1f}' "
                f"margin, {len(ranked)} plate(s) cover the field{runner_up})"
            )
        return PlateChoice(chosen.plate, chosen.coverage, chosen.clipped, reason)
    if target.mode == "c":
        chosen = select_centre(pairs)
        if chosen is None:
            raise FieldSkip(f"no {words} plate in this archive contains the field centre.")
        n_inside = sum(1 for _, c in pairs if c.centre_inside)
        reason = (
            f"c: plate centre {chosen.coverage.distance_deg:.2f} deg from the field, "
            f"closest of {n_inside} plate(s) containing it"
        )
        return PlateChoice(chosen.plate, chosen.coverage, chosen.clipped, reason)
    raise ValueError(f"mode {target.mode!r} does not select a single plate")


def _named_plate(target: FieldTarget) -> PlateChoice:
    survey, band = survey_and_band(target.survey)
    plate = Plate.objects.filter(survey=survey, plate_id__iexact=target.plate_id).first()
    if plate is None:
        raise FieldSkip(
            f"plate {target.plate_id} is not a {survey} plate of this archive "
            f"(a PLATE-ID such as 04IN, not a REGION-ID such as S134; mode n lists the plates "
            f"of a field)."
        )
    if band and plate.band != band:
        raise FieldSkip(
            f"plate {plate.plate_id} is a {survey} {plate.band or 'unknown'}-band plate, "
            f"but the line asks for {target.survey}."
        )
    coverage = plate_geometry(plate).coverage(
        target.ra_deg, target.dec_deg, target.width_arcmin, target.height_arcmin
    )
    if not coverage.covered:
        raise FieldSkip(
            f"plate {plate.plate_id} does not cover the field (its centre is "
            f"{coverage.distance_deg:.2f} deg from the field centre)."
        )
    return PlateChoice(plate, coverage, not coverage.full, f"plate {plate.plate_id} as asked")


def plates_table(target: FieldTarget) -> str:
    """Mode n: a plain-text table of every plate on which any part of the field lies."""
    rows = select_touching(plates_touching(target))
    if not rows:
        return f"No {_survey_words(target.survey)} plate of this archive covers the field.\n"
    head = (
        f"{'plate':<7}{'region':<8}{'band':<5}{'emulsion/filter':<18}{'epoch':>9}  "
        f"{'plate centre (J2000)':<24}{'dist':>7}  {'whole field':<12}{'online'}"
    )
    lines = [head, "-" * len(head)]
    for plate, coverage in rows:
        centre = f"{sexagesimal_ra(plate.ra_deg)[:8]} {sexagesimal_dec(plate.dec_deg)[:9]}"
        emulsion = "/".join(x for x in (plate.emulsion, plate.filter_name) if x)
        epoch = f"{plate.epoch:.3f}" if plate.epoch else "?"
        whole = "yes" if coverage.full else f"no ({coverage.fraction:.0%})"
        lines.append(
            f"{plate.plate_id:<7}{plate.region:<8}{plate.band or '-':<5}{emulsion[:17]:<18}"
            f"{epoch:>9}  {centre:<24}{coverage.distance_deg:>6.2f}d  {whole:<12}"
            f"{'yes' if plate.online else 'no'}"
        )
    return "\n".join(lines) + "\n"
