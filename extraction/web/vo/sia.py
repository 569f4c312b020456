"""SIA-2: ``/vo/sia2/query`` with its VOSI ``capabilities`` and ``availability``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from extraction.core.dali import UsageError, grouped, sia_query_of
from extraction.core.obscore import COLUMNS
from extraction.services.obscore import sia_search
from extraction.services.votables import datalink_descriptor, soda_descriptor, table_document
from extraction.web.vo.common import base_url, parameters, usage_error, vo_view, votable

#: The FIELD ID of obs_publisher_did, which the SODA descriptor's ID parameter refers to.
DID_FIELD_ID = "obs_publisher_did"


@vo_view("GET")
def capabilities(request: HttpRequest) -> HttpResponse:
    """VOSI capabilities: SIA-2 query with an anonymous interface, and the VOSI endpoints."""
    return render(
        request,
        "vo/capabilities.xml",
        {"base": base_url(request)},
        content_type="text/xml",
    )


@vo_view("GET")
def availability(request: HttpRequest) -> HttpResponse:
    return render(request, "vo/availability.xml", {}, content_type="text/xml")


@vo_view("GET", "POST")
def query(request: HttpRequest) -> HttpResponse:
    """``GET|POST /vo/sia2/query``: one ObsCore row per plate the constraints select."""
    try:
        sia = sia_query_of(grouped(parameters(request)))
    except UsageError as exc:
        return usage_error(str(exc))
    base = base_url(request)
    found = sia_search(query=sia, datalink_url=base + reverse("vo-datalink"))
    soda = soda_descriptor(base + reverse("vo-soda-sync"), id_ref=DID_FIELD_ID)
    links = datalink_descriptor(base + reverse("vo-datalink"), id_ref=DID_FIELD_ID)
    return votable(
        table_document(
            COLUMNS,
            found.rows,
            overflow=found.overflow,
            extra_resources=[links, soda],
            field_ids={"obs_publisher_did": DID_FIELD_ID},
        )
    )
