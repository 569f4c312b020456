"""The plate catalogue as ObsCore rows, and SIA-2 queries over it.

Each process keeps the catalogue's rows, outlines and centres in memory, rebuilt when the
catalogue changes (its plate count or newest ``updated_at``): a query is then numpy over the
plate centres and exact geometry on the few plates near the region. Footprints (the scanned
area from the plate solution, a few ms of WCSLIB each) are stored on the plate the first time
they are needed, so a process start reads them instead of recomputing thousands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
from django.conf import settings
from django.db.models import Count, F, Max, Q

from extraction.core.dali import SiaQuery
from extraction.core.obscore import (
    Footprint,
    PlateFacts,
    collections_named,
    obscore_row,
    row_matches,
    scanned_footprint,
)
from extraction.core.regions import (
    Circle,
    ConvexOutline,
    cap_radius_deg,
    circle_meets_outlines,
    unit_vectors,
)
from extraction.models import Plate
from extraction.services.plates import plate_geometry, plate_named, whole_plate_geometry

#: ``ivo://<authority>/dss?<survey>/<plate id>``: the resource key of every plate scan.
DID_RESOURCE = "dss"


class UnknownPlate(LookupError):
    """An identifier that names no plate of the catalogue; ``str()`` says which."""


def publisher_did(survey: str, plate_id: str) -> str:
    return f"ivo://{settings.DSSPORTAL_IVO_AUTHORITY}/{DID_RESOURCE}?{survey}/{plate_id}"


def plate_of_did(did: str) -> Plate:
    """The plate an ``obs_publisher_did`` names (or a bare ``SURVEY/PLATEID``).

    Raises
    ------
    UnknownPlate
        When the identifier is not of that form or names no catalogued plate.
    """
    text = did.strip()
    _, sep, key = text.partition("?")
    if not sep:
        key = text
    elif not text.lower().startswith(f"ivo://{settings.DSSPORTAL_IVO_AUTHORITY.lower()}/"):
        raise UnknownPlate(f"{text[:100]!r} is not an identifier of this archive")
    survey, slash, plate_id = key.partition("/")
    plate = (
        plate_named(survey.upper(), plate_id)
        if slash and survey and plate_id and len(key) <= 40
        else None
    )
    if plate is None:
        raise UnknownPlate(f"no plate {text[:100]!r} in this archive")
    return plate


# -- Footprints ---------------------------------------------------------------------------


def _extent(plate: Plate) -> list[int]:
    return [plate.x0, plate.y0, plate.width_px, plate.height_px]


def _stored_footprint(plate: Plate) -> dict[str, Any] | None:
    stored = plate.footprint
    if isinstance(stored, dict) and stored.get("extent") == _extent(plate):
        return stored
    return None


def plate_footprint(plate: Plate) -> Footprint:
    """The plate's scanned area on the sky, computed once and stored on the plate."""
    stored = _stored_footprint(plate)
    if stored is not None:
        return Footprint.from_json(stored)
    footprint = scanned_footprint(plate_geometry(plate))
    plate.footprint = {**footprint.as_json(), "extent": _extent(plate)}
    # update(), not save(): updated_at must not move, or every cache keyed on it would drop.
    Plate.objects.filter(pk=plate.pk).update(footprint=plate.footprint)
    return footprint


def plates_without_footprint() -> list[Plate]:
    """The plates whose footprint is not stored yet (or was stored for another extent)."""
    return [plate for plate in _catalogue_plates() if _stored_footprint(plate) is None]


def _catalogue_plates() -> list[Plate]:
    """Every plate, read whole (header deferred: read only where a footprint is computed).

    Whole, not by an iterator, because footprints are stored while walking the list: a write
    while an iterator's read is still open fails at once on SQLite (WAL: "database is
    locked", no busy wait) as soon as any other process has written meanwhile, e.g. a worker
    finishing a field.
    """
    return list(Plate.objects.order_by("survey", "plate_id").defer("header"))


def footprints_store(
    plates: list[Plate], *, progress: Callable[[int], object] | None = None
) -> None:
    """Compute and store these plates' footprints now, rather than in the first SIA-2 or MOC
    query (about 5 ms a plate: half a minute for a whole synthetic catalogue)."""
    for plate in plates:
        plate_footprint(plate)
        if progress is not None:
            progress(1)


def plate_facts(plate: Plate) -> PlateFacts:
    return PlateFacts(
        survey=plate.survey,
        plate_id=plate.plate_id,
        region=plate.region,
        band=plate.band,
        emulsion=plate.emulsion,
        filter_name=plate.filter_name,
        telescope=plate.telescope,
        epoch=plate.epoch,
        date_obs=plate.date_obs,
        exposure_min=plate.exposure_min,
        pixel_scale_arcsec=plate.pixel_scale_arcsec,
        width_px=plate.width_px,
        height_px=plate.height_px,
        online=plate.online,
        footprint=plate_footprint(plate),
    )


# -- The catalogue in memory ---------------------------------------------------------------


@dataclass(frozen=True)
class ObsCoreCatalogue:
    """Every plate's ObsCore row (without ``access_url``), outline and bounding cap."""

    rows: list[dict[str, object]]
    outlines: list[ConvexOutline]
    centres: np.ndarray  # (n, 3) unit vectors of s_ra, s_dec
    radii_deg: np.ndarray  # (n,) angular radius of each outline about its centre
    footprints: list[Footprint]
    vertices: np.ndarray | None  # (n, k, 3) outline vertices when all have k, for circles
    normals: np.ndarray | None  # (n, k, 3) their inward edge normals


_lock = threading.Lock()
_cached: tuple[object, ObsCoreCatalogue] | None = None


def catalogue_stamp() -> tuple[Any, ...]:
    """Changes whenever a plate is added, removed or saved."""
    stamp = Plate.objects.aggregate(n=Count("id"), changed=Max("updated_at"))
    return (stamp["n"], stamp["changed"])


def obscore_catalogue() -> ObsCoreCatalogue:
    """The catalogue's ObsCore rows, rebuilt when the plates change."""
    global _cached
    stamp = catalogue_stamp()
    with _lock:
        if _cached is not None and _cached[0] == stamp:
            return _cached[1]
    built = _build()
    with _lock:
        _cached = (stamp, built)
    return built


def _build() -> ObsCoreCatalogue:
    rows, outlines, footprints = [], [], []
    for plate in _catalogue_plates():
        facts = plate_facts(plate)
        did = publisher_did(plate.survey, plate.plate_id)
        rows.append(obscore_row(facts, publisher_did=did, access_url=""))
        outlines.append(facts.footprint.outline())
        footprints.append(facts.footprint)
    if not rows:
        return ObsCoreCatalogue([], [], np.zeros((0, 3)), np.zeros(0), [], None, None)
    centres = unit_vectors([f.ra_deg for f in footprints], [f.dec_deg for f in footprints])
    radii = np.array(
        [cap_radius_deg(c, o.vertices) for c, o in zip(centres, outlines, strict=True)]
    )
    same = len({len(o.vertices) for o in outlines}) == 1
    vertices = np.stack([o.vertices for o in outlines]) if same else None
    normals = np.stack([o.normals for o in outlines]) if same else None
    return ObsCoreCatalogue(rows, outlines, centres, radii, footprints, vertices, normals)


# -- Queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiaResult:
    rows: list[dict[str, object]]
    overflow: bool


def _near(catalogue: ObsCoreCatalogue, query: SiaQuery) -> np.ndarray:
    """Indexes of the plates whose bounding cap meets a bounding cap of a queried region."""
    if not query.regions:
        return np.arange(len(catalogue.rows))
    keep = np.zeros(len(catalogue.rows), dtype=bool)
    for region in query.regions:
        centre, radius = region.reach()
        cosines = np.clip(catalogue.centres @ centre, -1.0, 1.0)
        keep |= np.degrees(np.arccos(cosines)) <= radius + catalogue.radii_deg + 1e-6
    return np.flatnonzero(keep)


def _meeting(catalogue: ObsCoreCatalogue, query: SiaQuery, near: np.ndarray) -> np.ndarray:
    """Which of the ``near`` plates' outlines meet a queried region (all, without POS)."""
    if not query.regions:
        return np.ones(len(near), dtype=bool)
    meets = np.zeros(len(near), dtype=bool)
    for region in query.regions:
        if isinstance(region, Circle) and catalogue.vertices is not None:
            assert catalogue.normals is not None
            meets |= circle_meets_outlines(
                region, catalogue.vertices[near], catalogue.normals[near]
            )
        else:
            meets |= np.array([region.meets(catalogue.outlines[i]) for i in near], dtype=bool)
    return meets


def sia_search(*, query: SiaQuery, datalink_url: str) -> SiaResult:
    """The plates a SIA-2 query selects, at most ``query.maxrec`` of them, in catalogue order.

    ``datalink_url`` is the DataLink endpoint; each row's ``access_url`` is it with
    ``?ID=<obs_publisher_did>``.
    """
    catalogue = obscore_catalogue()
    near = _near(catalogue, query)
    matching = [i for i in near if row_matches(catalogue.rows[i], query)]
    chosen = np.asarray(matching, dtype=np.intp)
    selected = chosen[_meeting(catalogue, query, chosen)] if len(chosen) else chosen
    overflow = len(selected) > query.maxrec
    found = [catalogue.rows[i] for i in selected[: query.maxrec]]
    return SiaResult([_with_access_url(row, datalink_url) for row in found], overflow)


def _with_access_url(row: dict[str, object], datalink_url: str) -> dict[str, object]:
    return {**row, "access_url": f"{datalink_url}?ID={quote(str(row['obs_publisher_did']))}"}


def catalogue_footprints(*, survey: str, online_only: bool) -> list[Footprint]:
    """The footprints of one collection's plates (DSS1, DSS2R, DSS2B, DSS2I) or of a whole
    survey's (DSS2), as SIA-2's COLLECTION names them."""
    catalogue = obscore_catalogue()
    wanted = survey.casefold()
    whole = {} if online_only else _whole_footprints_of_partial_scans()
    return [
        whole.get(str(row["obs_publisher_did"]), footprint)
        for row, footprint in zip(catalogue.rows, catalogue.footprints, strict=True)
        if wanted in collections_named(str(row["obs_collection"]))
        and (row["dss_online"] or not online_only)
    ]


def _whole_footprints_of_partial_scans() -> dict[str, Footprint]:
    """The whole plates of the online plates scanned here in part, by publisher DID: what
    the catalogue covers (their scans are what is online; a real DSS plate is scanned
    whole, so this is the demo sky's few plates and partial imports)."""
    partial = Plate.objects.filter(online=True).filter(
        Q(width_px__lt=F("plate_width_px")) | Q(height_px__lt=F("plate_height_px"))
    )
    return {
        publisher_did(plate.survey, plate.plate_id): scanned_footprint(whole_plate_geometry(plate))
        for plate in partial
    }
