"""DataLink documents of plates: per identifier, the whole plate, a preview and cut-outs.

For each ID, three consecutive rows: ``#this`` (the stored plate file where its pixels are
online here, otherwise an ``error_message``), ``#preview`` (a PNG of the middle of the scanned
area) and ``#cutout`` (``service_def`` naming the SODA descriptor, which the document carries).
An ID that names no plate gets one row with ``NotFoundFault``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings

from extraction.core.obscore import Column
from extraction.core.platestore import PlateStoreError
from extraction.models import Plate
from extraction.services.obscore import UnknownPlate, plate_footprint, plate_of_did
from extraction.services.platestores import local_plate_store
from extraction.services.votables import (
    SODA_DESCRIPTOR_ID,
    soda_descriptor,
    table_document,
)

#: Most identifiers one DataLink call may name (pyvo sends batches of 50).
MAX_IDS = 500

COLUMNS: tuple[Column, ...] = (
    Column("ID", "char", "meta.id;meta.main", "", arraysize="*",
           description="Identifier of the plate scan"),
    Column("access_url", "char", "meta.ref.url", "", arraysize="*",
           description="Where the linked resource is"),
    Column("service_def", "char", "meta.ref", "", arraysize="*",
           description="ID of the service descriptor to call"),
    Column("error_message", "char", "meta.code.error", "", arraysize="*",
           description="Why the link cannot be given"),
    Column("semantics", "char", "meta.code", "", arraysize="*",
           description="What the link is, from the IVOA datalink vocabulary"),
    Column("description", "char", "meta.note", "", arraysize="*",
           description="The link in words"),
    Column("content_type", "char", "meta.code.mime", "", arraysize="*",
           description="Media type of the linked resource"),
    Column("content_length", "long", "phys.size;meta.file", "", unit="byte",
           description="Size of the linked resource"),
    # DataLink 1.1's columns (the capabilities say links-1.1).
    Column("content_qualifier", "char", "meta.code.class", "", arraysize="*",
           description="What the linked resource is, from the IVOA product-type vocabulary"),
    Column("local_semantics", "char", "meta.code", "", arraysize="*",
           description="What the link is, in this service's own terms"),
    Column("link_auth", "char", "meta.code", "", arraysize="*",
           description="Whether the link needs authentication: false, optional or true"),
    Column("link_authorized", "boolean", "meta.code", "",
           description="Whether this caller may follow the link"),
)  # fmt: skip

#: Every link is open to all; an anonymous call counts against its address's limits, one with
#: a token (``Authorization: Bearer``) against the token's allowance.
LINK_AUTH = "optional"


def _with_access_terms(link: dict[str, object]) -> dict[str, object]:
    """A link row with its DataLink 1.1 authentication columns: anyone may follow a link
    that leads somewhere; an error row leads nowhere."""
    if "error_message" in link:
        return link
    return {**link, "link_auth": LINK_AUTH, "link_authorized": True}


def _preview_radius_deg() -> float:
    """Half the largest synchronous cut-out: the preview is the middle of the scanned area."""
    largest = min(settings.DSSPORTAL_CUTOUT_MAX_ARCMIN, settings.DSSPORTAL_MAX_FIELD_ARCMIN)
    return largest / 2.0 / 60.0


def whole_plate_file(plate: Plate) -> Path | None:
    """The stored file of a plate whose pixels are in this host's plates folder, or None
    (offline, or read from a plate server: whole plates are served by the host holding them)."""
    if not plate.online or not plate.data_file:
        return None
    try:
        path = local_plate_store().path_of(plate.data_file)
    except PlateStoreError:
        return None
    return path if path.is_file() else None


def _links(plate: Plate, did: str, urls: dict[str, str]) -> list[dict[str, object]]:
    footprint = plate_footprint(plate)
    stored = whole_plate_file(plate)
    this: dict[str, object] = {
        "ID": did,
        "semantics": "#this",
        "description": f"{plate.survey} plate {plate.plate_id}: the whole scan "
        f"({plate.width_px} x {plate.height_px} pixels, tile-compressed FITS)",
        "content_type": "application/fits",
        "content_qualifier": "image",
    }
    if stored is not None:
        this["access_url"] = urls["plate"].format(survey=plate.survey, plate_id=plate.plate_id)
        this["content_length"] = stored.stat().st_size
    elif plate.online:
        this["error_message"] = (
            f"NotFoundFault: plate {plate.plate_id} is read from a plate server; this host "
            "serves cut-outs of it, not the whole file"
        )
    else:
        this["error_message"] = (
            f"NotFoundFault: plate {plate.plate_id} is catalogued here but its pixels are not "
            "online"
        )
    radius = _preview_radius_deg()
    preview: dict[str, object] = {
        "ID": did,
        "semantics": "#preview",
        "description": f"PNG of the middle {2 * radius * 60:g}' of the scan",
        "content_type": "image/png",
        "content_qualifier": "image",
    }
    if plate.online:
        circle = f"{footprint.ra_deg:.6f} {footprint.dec_deg:.6f} {radius:g}"
        query = urlencode({"ID": did, "CIRCLE": circle, "RESPONSEFORMAT": "image/png"})
        preview["access_url"] = f"{urls['soda']}?{query}"
    else:
        preview["error_message"] = str(this["error_message"])
    cutout: dict[str, object] = {
        "ID": did,
        "semantics": "#cutout",
        "service_def": SODA_DESCRIPTOR_ID,
        "description": "Cut-out of this plate around a CIRCLE or POLYGON (SODA)",
        "content_type": "application/fits",
        "content_qualifier": "image",
    }
    return [_with_access_terms(link) for link in (this, preview, cutout)]


def _not_found(did: str, why: str) -> dict[str, object]:
    return {"ID": did, "error_message": f"NotFoundFault: {why}"}


def datalink_document(*, ids: list[str], urls: dict[str, str]) -> bytes:
    """The DataLink VOTable for ``ids`` (in order), with the SODA descriptor.

    ``urls``: ``soda`` (the SODA sync endpoint) and ``plate`` (a format string with
    ``{survey}`` and ``{plate_id}``: where a whole plate file is served).
    """
    rows: list[dict[str, object]] = []
    for did in ids:
        try:
            plate = plate_of_did(did)
        except UnknownPlate as exc:
            rows.append(_not_found(did, str(exc)))
            continue
        rows.extend(_links(plate, did, urls))
    return table_document(
        COLUMNS,
        rows,
        extra_resources=[soda_descriptor(urls["soda"], id_ref="dl_id")],
        field_ids={"ID": "dl_id"},
    )
