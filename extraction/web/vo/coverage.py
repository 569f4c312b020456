"""Coverage maps ``/vo/moc/<survey>.fits|.json`` and the VOResource record."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from extraction.core.surveys import SURVEY_BANDS
from extraction.services.moc import MOC_ORDER, MOC_SURVEYS, coverage_moc_file
from extraction.web.vo.common import base_url, text_error, vo_view

_CONTENT_TYPES = {"fits": "application/fits", "json": "application/json"}


@vo_view("GET")
def moc(request: HttpRequest, survey: str, fmt: str) -> HttpResponseBase:
    """The MOC of a collection's online plates (``?plates=all``: every catalogued plate)."""
    name = survey.upper()
    if name not in MOC_SURVEYS:
        return text_error(
            404, f"no coverage map {survey!r}; there is one for each of {', '.join(MOC_SURVEYS)}."
        )
    which = request.GET.get("plates", "online").lower()
    if which not in ("online", "all"):
        return text_error(400, "plates must be online (the default) or all.")
    path = coverage_moc_file(survey=name, online_only=which == "online", fmt=fmt)
    kind = "" if which == "online" else "-catalogued"
    return FileResponse(
        path.open("rb"),
        content_type=_CONTENT_TYPES[fmt],
        filename=f"{name}{kind}-moc{MOC_ORDER}.{fmt}",
    )


@vo_view("GET")
def registry_record(request: HttpRequest) -> HttpResponse:
    """``/vo/registry.xml``: a VOResource (vs:CatalogService) record for the IVOA registry."""
    return render(
        request,
        "vo/registry.xml",
        {
            "base": base_url(request),
            "authority": settings.DSSPORTAL_IVO_AUTHORITY,
            "contact": settings.DEFAULT_FROM_EMAIL,
            "collections": SURVEY_BANDS.values(),
        },
        content_type="text/xml",
    )
