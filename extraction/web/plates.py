"""The plate finder for users: which plates cover a field, and a page per plate."""

from __future__ import annotations

import math

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra
from extraction.core.positions import ListPosition
from extraction.core.sky import angular_distance_deg
from extraction.models import Plate
from extraction.pictures.skymap import PlateOutline, field_map_svg, outline_centre, outline_radec
from extraction.services.moc import MOC_SURVEYS
from extraction.services.platefinder import (
    CoveringPlate,
    FinderInputError,
    SurveyCoverage,
    finder_surveys,
    plates_covering,
)
from extraction.services.plates import plate_named, plate_outline, whole_plate_outline
from extraction.web.forms import PlateFinderForm


def _covering(
    position: ListPosition, width: float, height: float, survey: str
) -> list[SurveyCoverage]:
    surveys = (survey,) if survey else finder_surveys()
    return plates_covering(
        ra_deg=position.ra_j2000_deg,
        dec_deg=position.dec_j2000_deg,
        width_arcmin=width,
        height_arcmin=height,
        surveys=surveys,
    )


def _summary(row: CoveringPlate) -> str:
    """``'whole field, 41.2 arcmin from the edge, epoch 1987.2'``: a plate as a chooser reads it."""
    text = render_to_string(
        "extraction/_plate_offer.txt",
        {"coverage": row.coverage, "plate": row.plate, "online": row.online},
    )
    return " ".join(text.split())


def plate_finder(request: HttpRequest) -> HttpResponse:
    """``/plates/``: a position (or name) and size in, each survey's covering plates out."""
    form = PlateFinderForm(request.GET or None)
    context: dict[str, object] = {"form": form, "moc_surveys": MOC_SURVEYS}
    if form.is_bound and form.is_valid() and form.cleaned_data["position"] is not None:
        data = form.cleaned_data
        position: ListPosition = data["position"]
        try:
            coverage = _covering(position, data["width"], data["height"], data["survey"] or "")
        except FinderInputError as exc:
            form.add_error(None, str(exc)[:1].upper() + str(exc)[1:])
            return render(request, "extraction/plate_finder.html", context, status=422)
        rows = {row.plate.pk: row for group in coverage for row in group.plates}
        context |= {
            "position": position,
            "resolved": data.get("resolved"),
            "centre_ra": sexagesimal_ra(position.ra_j2000_deg)[:11],
            "centre_dec": sexagesimal_dec(position.dec_j2000_deg)[:11],
            "coverage": coverage,
            "svg": mark_safe(
                field_map_svg(
                    position.ra_j2000_deg,
                    position.dec_j2000_deg,
                    data["width"],
                    data["height"],
                    [o for row in rows.values() for o in _outlines(row)],
                    title="Outlines of the covering plates around the field (red)",
                )
            ),
        }
    status = 422 if form.is_bound and form.errors else 200
    return render(request, "extraction/plate_finder.html", context, status=status)


def _outlines(row: CoveringPlate) -> list[PlateOutline]:
    """What the finder's map draws of a covering plate: its scanned area, and the whole
    plate too when only that covers the field (a plate scanned here in part)."""
    scanned = plate_outline(row.plate)
    return [scanned] if row.coverage.scanned else [whole_plate_outline(row.plate), scanned]


def _neighbours(plate: Plate) -> list[Plate]:
    """The plates of the same survey whose centres lie within a plate's width or so."""
    reach = 1.2 * plate.plate_width_px * plate.pixel_scale_arcsec / 3600.0
    near = Plate.objects.filter(
        survey=plate.survey,
        dec_deg__gte=plate.dec_deg - reach,
        dec_deg__lte=plate.dec_deg + reach,
    ).exclude(pk=plate.pk)
    return [
        p
        for p in near
        if angular_distance_deg(p.ra_deg, p.dec_deg, plate.ra_deg, plate.dec_deg) <= reach
    ]


def plate_detail(request: HttpRequest, survey: str, plate_id: str) -> HttpResponse:
    """``/plates/<survey>/<plate id>/``: a plate's catalogue entry and where it lies."""
    plate = plate_named(survey.upper(), plate_id)
    if plate is None:
        raise Http404(f"no plate {survey}/{plate_id} in this archive")
    outline = plate_outline(plate)
    scale = plate.pixel_scale_arcsec / 60.0
    corners = [
        f"{sexagesimal_ra(ra)[:8]} {sexagesimal_dec(dec)[:9]}"
        for ra, dec in outline_radec(outline, points_per_side=1)
    ]
    return render(
        request,
        "extraction/plate_detail.html",
        {
            "plate": plate,
            "centre_ra": sexagesimal_ra(plate.ra_deg)[:11],
            "centre_dec": sexagesimal_dec(plate.dec_deg)[:11],
            "extent_arcmin": (plate.width_px * scale, plate.height_px * scale),
            "corners": corners,
            "svg": mark_safe(
                field_map_svg(
                    *outline_centre(outline),
                    plate.width_px * scale,
                    plate.height_px * scale,
                    [plate_outline(p) for p in _neighbours(plate)],
                    size=560,
                    title=f"Plate {plate.plate_id} (red) and the plates around it",
                )
            ),
        },
    )


def plate_covering(request: HttpRequest) -> JsonResponse:
    """For the request form: where a name lies, and the plates that cover the field."""
    form = PlateFinderForm(request.GET)
    if not form.is_valid() or form.cleaned_data["position"] is None:
        problems = [str(e) for errors in form.errors.values() for e in errors]
        return JsonResponse({"error": " ".join(problems) or "Give a position."}, status=400)
    data = form.cleaned_data
    position: ListPosition = data["position"]
    resolved = data.get("resolved")
    try:
        coverage = _covering(position, data["width"], data["height"], data["survey"] or "DSS2R")
    except FinderInputError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    rows = [row for group in coverage for row in group.plates]
    return JsonResponse(
        {
            "mosaic_offered": any(group.mosaic_offered for group in coverage),
            "resolved": (request.GET.get("name") or "").strip()
            if not (request.GET.get("lon") or request.GET.get("lat"))
            else "",
            "resolver": resolved.source if resolved is not None else "",
            "ra_text": sexagesimal_ra(position.ra_j2000_deg)[:11],
            "dec_text": sexagesimal_dec(position.dec_j2000_deg)[:11],
            "plates": [
                {
                    "plate_id": row.plate.plate_id,
                    "full": row.coverage.full,
                    "margin_arcmin": row.coverage.margin_arcmin
                    if math.isfinite(row.coverage.margin_arcmin)
                    else None,
                    "online": row.online,
                    "summary": _summary(row),
                }
                # Plates that can be cut first, then the best covering.
                for row in sorted(
                    rows,
                    key=lambda r: (
                        not r.online,
                        not r.coverage.full,
                        -r.coverage.margin_arcmin,
                    ),
                )
            ],
        }
    )
