"""DataLink ``links``, SODA ``sync`` and the whole plate file behind ``#this``."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse

from extraction.core.dali import UsageError, grouped, region_of
from extraction.services.cutouts import CutoutRefused, anonymous_take
from extraction.services.datalink import MAX_IDS, datalink_document, whole_plate_file
from extraction.services.obscore import UnknownPlate, plate_of_did
from extraction.services.plates import plate_named
from extraction.services.soda import soda_cutout
from extraction.web.apiauth import ApiError
from extraction.web.vo.common import (
    base_url,
    cutout_caller,
    file_answer,
    parameters,
    refused,
    text_error,
    unauthorised,
    usage_error,
    vo_view,
    votable,
)

#: SODA RESPONSEFORMAT values and the cut-out format each gives.
SODA_FORMATS = {
    "": "fits",
    "fits": "fits",
    "application/fits": "fits",
    "image/fits": "fits",
    "application/x-fits": "fits",
    "image/png": "png",
    "png": "png",
}


@vo_view("GET", "POST")
def datalink(request: HttpRequest) -> HttpResponse:
    """``/vo/datalink/links?ID=...`` (ID repeats; pyvo POSTs batches)."""
    params = grouped(parameters(request))
    ids = [v.strip() for v in params.get("ID", []) if v.strip()]
    if not ids:
        return usage_error("give ID, the obs_publisher_did of a plate (repeat ID for several).")
    if len(ids) > MAX_IDS:
        return usage_error(f"at most {MAX_IDS} IDs per call; send them in batches.")
    base = base_url(request)
    urls = {
        "soda": base + reverse("vo-soda-sync"),
        "plate": base
        + reverse("vo-plate-file", args=["SURVEY", "PLATE"])
        .replace("SURVEY", "{survey}")
        .replace("PLATE", "{plate_id}"),
    }
    return votable(datalink_document(ids=ids, urls=urls))


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = [v for v in params.get(name, []) if v.strip()]
    if len(values) > 1:
        raise UsageError(f"give {name} once (one cut-out per call).")
    return values[0].strip() if values else None


def _shape(params: dict[str, list[str]]) -> str:
    shapes = {name: _one(params, name) for name in ("CIRCLE", "POLYGON", "POS")}
    given = {name: value for name, value in shapes.items() if value is not None}
    if len(given) != 1:
        raise UsageError(
            "give exactly one of CIRCLE (ra dec radius), POLYGON (ra1 dec1 ra2 dec2 ra3 dec3 "
            "...) or POS (a DALI shape), in degrees."
        )
    name, value = next(iter(given.items()))
    return value if name == "POS" else f"{name} {value}"


@vo_view("GET", "POST")
def soda_sync(request: HttpRequest) -> HttpResponse:
    """``/vo/soda/sync?ID=&CIRCLE=|POLYGON=|POS=``: the FITS cut-out of one plate."""
    params = grouped(parameters(request))
    try:
        did = _one(params, "ID")
        if did is None:
            raise UsageError("give ID, the obs_publisher_did of the plate to cut.")
        region = region_of(_shape(params))
        fmt = SODA_FORMATS.get((_one(params, "RESPONSEFORMAT") or "").lower())
        if fmt is None:
            raise UsageError(
                "RESPONSEFORMAT must be application/fits (also image/fits, fits) or image/png "
                "(also png)."
            )
    except UsageError as exc:
        return text_error(400, str(exc))
    try:
        plate = plate_of_did(did)
        caller = cutout_caller(request)
        made = soda_cutout(caller=caller, plate=plate, region=region, output_format=fmt)
    except UnknownPlate as exc:
        return text_error(404, str(exc))
    except ApiError as exc:
        return unauthorised(exc)
    except CutoutRefused as exc:
        return refused(exc)
    return file_answer(made)


@vo_view("GET")
def plate_file(request: HttpRequest, survey: str, plate_id: str) -> HttpResponseBase:
    """A whole stored plate (``#this``): the tile-compressed FITS file as held."""
    plate = plate_named(survey.upper(), plate_id)
    path = whole_plate_file(plate) if plate is not None else None
    if plate is None or path is None:
        return text_error(404, f"no plate {survey}/{plate_id} with pixels online here.")
    try:
        caller = cutout_caller(request)
        if caller.user is None:
            anonymous_take(address=caller.address)
    except ApiError as exc:
        return unauthorised(exc)
    except CutoutRefused as exc:
        return refused(exc)
    return FileResponse(
        path.open("rb"),
        content_type="application/fits",
        as_attachment=True,
        filename=f"{plate.survey}_{plate.plate_id}.fits",
    )
