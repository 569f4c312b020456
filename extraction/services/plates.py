"""The plate catalogue: import real DSS scans, register synthetic plates, look plates up.

Pixel data go to ``$DSSPORTAL_DATA_DIR/plates/<survey>/<plate_id>.fits`` through
``extraction.core.platestore.write_plate`` (RICE_1, 500x500 tiles); the ``Plate`` row keeps
the catalogue fields, the digitized extent and the plate header. A plate is identified by
(survey, plate id): importing or registering it again updates the row, never duplicates it.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from django.db import connection, transaction
from django.db.models import QuerySet

from extraction.core.files import stale_parts_remove
from extraction.core.plates import (
    DigitizedArea,
    DSSHeaderError,
    PlateGeometry,
    missing_dss_keywords,
)
from extraction.core.platestore import (
    PlateStoreError,
    first_image_hdu,
    plate_header_cards,
    write_plate,
)
from extraction.core.surveys import SURVEYS, band_from_plate, survey_for_pixel_size
from extraction.models import Plate
from extraction.pictures.skymap import PlateOutline
from extraction.services.platestores import local_plate_store, plate_key
from extraction.text.naming import plate_id_problem

# Plate ids name files in the store: keep them to what DSS uses (0025, 04IN, XE123 ...).


class PlateImportError(Exception):
    """A file or header that cannot become a catalogued plate, with the reason why."""


# -- Catalogue fields from a DSS header -------------------------------------------------


def _text(header: fits.Header, key: str, max_length: int) -> str:
    return str(header.get(key, "") or "").strip()[:max_length]


def _number(header: fits.Header, key: str) -> float | None:
    value = header.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def date_from_header(value: object) -> date | None:
    """Observation date from DATE-OBS: ISO ``YYYY-MM-DD[Thh:mm:ss]`` or DSS ``DD/MM/YY``."""
    text = str(value or "").strip()
    iso = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text)
    dss = re.match(r"^(\d{2})/(\d{2})/(\d{2})$", text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if dss:  # the old FITS form; every DSS plate was taken in the 1900s
            return date(1900 + int(dss[3]), int(dss[2]), int(dss[1]))
    except ValueError:
        return None
    return None


def band_from_header(header: fits.Header) -> str:
    """Band letter from EMULSION, FILTER or PLTLABEL (the band table); ``""`` when unknown."""
    return band_from_plate(
        emulsion=_text(header, "EMULSION", 32),
        filter_name=_text(header, "FILTER", 16),
        label=_text(header, "PLTLABEL", 16),
    )


def _survey_of(header: fits.Header, survey: str | None, source: str) -> str:
    pixel_um = float(header["XPIXELSZ"])
    inferred = survey_for_pixel_size(pixel_um)
    if survey is None:
        if inferred is None:
            known = " nor ".join(f"{s.name} ({s.pixel_size_um:g} um)" for s in SURVEYS.values())
            raise PlateImportError(
                f"{source}: pixel size {pixel_um:g} um is neither {known}; give the survey "
                f"explicitly (--survey {'|'.join(SURVEYS)})"
            )
        return inferred
    survey = survey.upper()
    if survey not in SURVEYS:
        raise PlateImportError(f"{source}: unknown survey {survey!r}; use {' or '.join(SURVEYS)}")
    if inferred is not None and inferred != survey:
        raise PlateImportError(
            f"{source}: pixel size {pixel_um:g} um is a {inferred} scan, not {survey}"
        )
    return survey


def _keyword_ranges(keys: list[str]) -> str:
    """``AMDX1, AMDX2, AMDX3, PPO3`` -> ``AMDX1-AMDX3, PPO3``: a short list for a human."""
    runs: list[list[str]] = []
    for key in keys:
        match = re.fullmatch(r"([A-Z]+)(\d+)", key)
        last = re.fullmatch(r"([A-Z]+)(\d+)", runs[-1][-1]) if runs else None
        if match and last and match[1] == last[1] and int(match[2]) == int(last[2]) + 1:
            runs[-1].append(key)
        else:
            runs.append([key])
    return ", ".join(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def _require_solution(header: fits.Header, source: str) -> None:
    missing = missing_dss_keywords(header)
    if missing:
        raise PlateImportError(
            f"{source}: not a DSS plate scan, no plate solution (missing keywords "
            f"{_keyword_ranges(missing)})"
        )


def _geometry_of(header: fits.Header, survey: str, source: str) -> PlateGeometry:
    # Only the plate centre and scale are wanted here; they do not depend on the extent.
    try:
        return PlateGeometry(header, area=DigitizedArea.full_plate(survey))
    except DSSHeaderError as exc:
        raise PlateImportError(f"{source}: {exc}") from None


def _plate_id_of(header: fits.Header, source: str) -> str:
    plate_id = _text(header, "PLATEID", 16)
    if not plate_id:
        raise PlateImportError(f"{source}: no PLATEID keyword, cannot name the plate")
    _check_plate_id(plate_id, source)
    return plate_id


def _check_plate_id(plate_id: str, source: str) -> None:
    problem = plate_id_problem(plate_id)
    if problem is not None:
        raise PlateImportError(f"{source}: PLATEID {plate_id!r} is refused: {problem}")


@dataclass(frozen=True)
class _Extent:
    x0: int
    y0: int
    width: int
    height: int


def plate_identity(
    *, header: fits.Header, survey: str | None = None, source: str
) -> tuple[str, str]:
    """The (survey, plate id) a DSS header would be catalogued under.

    Raises
    ------
    PlateImportError
        No DSS plate solution, no usable PLATEID, or an unknown or mismatched survey.
    """
    _require_solution(header, source)
    return _survey_of(header, survey, source), _plate_id_of(header, source)


# -- Writes -----------------------------------------------------------------------------


def plate_store_path(*, survey: str, plate_id: str) -> Path:
    """Where an import writes a plate's pixels: its key in the local plates folder."""
    return local_plate_store().path_of(plate_key(survey=survey, plate_id=plate_id))


def plate_register(
    *,
    header: fits.Header,
    survey: str | None = None,
    data: npt.NDArray[np.int16] | None = None,
    synthetic: bool = False,
    band: str | None = None,
    compression: str = "RICE_1",
    source: str = "header",
    store: Callable[[Path, fits.Header], object] | None = None,
) -> Plate:
    """Catalogue a plate from its DSS header, storing its pixels when given.

    Parameters
    ----------
    header
        The plate's DSS header (plate solution, PLATEID, REGION, PLTLABEL, ...). With
        ``data``, its CNPIX1/CNPIX2 place the pixels on the plate.
    survey
        ``"DSS1"`` or ``"DSS2"``; inferred from XPIXELSZ when omitted.
    data
        The scanned pixels, numpy order ``[y, x]``, int16. Without them the plate is
        catalogued offline over its nominal full extent, unless it is already online here:
        then its stored pixels, extent, header and plate solution are kept and only the
        descriptive fields (region, label, band, dates ...) are updated.
    synthetic
        Made by the synthetic-sky generator (it says so in the admin).
    band
        ``B``, ``R`` or ``I``; derived from EMULSION/FILTER/PLTLABEL when omitted.
    compression
        Tile compression of the stored file, ``"RICE_1"`` or ``"HCOMPRESS_1"``.
    source
        Names the input in error messages (a file path, a generator name).
    store
        Instead of ``data``: writes the plate file itself, given its path in the store and
        the plate's header cards (the media import, whose tiles are ready-made). The
        extent is then the header's NAXIS1 x NAXIS2 at CNPIX1/CNPIX2.

    Raises
    ------
    PlateImportError
        No DSS plate solution, no usable PLATEID, unknown survey, or unstorable pixels.
    """
    _require_solution(header, source)
    survey = _survey_of(header, survey, source)
    plate_id = _plate_id_of(header, source)
    geometry = _geometry_of(header, survey, source)
    cards = plate_header_cards(header)
    stored: Path | None = None
    extent: _Extent | None = None
    if data is not None or store is not None:
        stored = plate_store_path(survey=survey, plate_id=plate_id)
        stored.parent.mkdir(parents=True, exist_ok=True)
        try:
            if store is not None:
                store(stored, cards)
                stale_parts_remove(stored)  # a killed earlier import's temporary
                height, width = int(header["NAXIS2"]), int(header["NAXIS1"])
            elif data is not None:
                write_plate(stored, data, cards, compression=compression)
                height, width = data.shape
        except PlateStoreError as exc:
            raise PlateImportError(f"{source}: {exc}") from None
        extent = _Extent(int(header.get("CNPIX1", 0)), int(header.get("CNPIX2", 0)), width, height)
    fields = _catalogue_fields(header, geometry, survey, band)
    fields["header"] = cards.tostring(endcard=False, padding=False)
    fields["synthetic"] = synthetic
    return _save(survey, plate_id, fields, extent, stored)


def _catalogue_fields(
    header: fits.Header, geometry: PlateGeometry, survey: str, band: str | None
) -> dict[str, Any]:
    return {
        "region": _text(header, "REGION", 8),
        "label": _text(header, "PLTLABEL", 16),
        "band": band if band is not None else band_from_header(header),
        "emulsion": _text(header, "EMULSION", 16),
        "filter_name": _text(header, "FILTER", 16),
        "telescope": _text(header, "TELESCOP", 48),
        "epoch": _number(header, "EPOCH"),
        "date_obs": date_from_header(header.get("DATE-OBS")),
        "exposure_min": _number(header, "EXPOSURE"),
        "ra_deg": geometry.plate_ra_deg,
        "dec_deg": geometry.plate_dec_deg,
        "pixel_scale_arcsec": geometry.nominal_scale_arcsec,
        "plate_width_px": SURVEYS[survey].plate_size_px,
        "plate_height_px": SURVEYS[survey].plate_size_px,
    }


# Fields tied to the stored pixels: registering a header alone must not change them under a
# plate that is online here, or the catalogue would no longer describe the stored file.
_SOLUTION_FIELDS = frozenset({"header", "ra_deg", "dec_deg", "pixel_scale_arcsec"})


def _save(
    survey: str, plate_id: str, fields: dict[str, Any], extent: _Extent | None, stored: Path | None
) -> Plate:
    with transaction.atomic():
        plate = Plate.objects.select_for_update().filter(survey=survey, plate_id=plate_id).first()
        if plate is None:
            plate = Plate(survey=survey, plate_id=plate_id)
        keep = _SOLUTION_FIELDS if stored is None and plate.online else frozenset()
        plate.footprint = None  # recomputed from the new solution or extent on first need
        for name, value in fields.items():
            if name not in keep:
                setattr(plate, name, value)
        if stored is not None and extent is not None:
            plate.x0, plate.y0 = extent.x0, extent.y0
            plate.width_px, plate.height_px = extent.width, extent.height
            plate.data_file = local_plate_store().key_of(stored)
            plate.online = True
        elif not plate.online:
            # Catalogued but offline: the nominal full plate.
            plate.x0 = plate.y0 = 0
            plate.width_px, plate.height_px = fields["plate_width_px"], fields["plate_height_px"]
            plate.data_file = ""
        plate.save()
    return plate


def _read_scan(path: Path) -> tuple[fits.Header, npt.NDArray[np.int16]]:
    """Header and pixels of a DSS scan (plain, gzipped or tile-compressed FITS)."""
    try:
        # Raw integers: DSS scans are BITPIX 16 without scaling, and BLANK must stay a number.
        with fits.open(path, do_not_scale_image_data=True) as hdul:
            hdu = first_image_hdu(hdul)
            if hdu is None:
                raise PlateImportError(f"{path}: no 2-D image in this FITS file")
            header = hdu.header.copy()
            _require_solution(header, str(path))  # refuse before reading the pixels
            if header.get("BITPIX") != 16 or header.get("BZERO", 0) or header.get("BSCALE", 1) != 1:
                raise PlateImportError(
                    f"{path}: pixels must be unscaled 16-bit integers (BITPIX 16, no BZERO/BSCALE)"
                )
            data = np.array(hdu.data, dtype=np.int16)
    except OSError as exc:
        raise PlateImportError(f"{path}: cannot read as FITS ({exc})") from None
    return header, data


def plate_import_file(*, path: str | os.PathLike[str], survey: str | None = None) -> Plate:
    """Import a real DSS scan (whole or partial plate) into the store and the catalogue.

    Parameters
    ----------
    path
        A FITS file, plain, gzipped or tile-compressed, with a DSS plate solution and
        PLATEID; CNPIX1/CNPIX2 place a partial scan on its plate.
    survey
        ``"DSS1"`` or ``"DSS2"``; inferred from XPIXELSZ (25.28 um: DSS1, 15 um: DSS2)
        when omitted.

    Raises
    ------
    PlateImportError
        The file is not a readable 16-bit DSS scan; the message says why.
    """
    source = Path(path)
    header, data = _read_scan(source)
    return plate_register(header=header, survey=survey, data=data, source=str(source))


# -- Reads ------------------------------------------------------------------------------


def plates_for_survey(
    *, survey: str, band: str | None = None, online: bool | None = None
) -> QuerySet[Plate]:
    """The plates of a survey, optionally of one band and online state."""
    plates = Plate.objects.filter(survey=survey)
    if band:
        plates = plates.filter(band=band)
    if online is not None:
        plates = plates.filter(online=online)
    return plates


def plate_named(survey: str, plate_id: str) -> Plate | None:
    """The catalogued plate of ``survey`` whose id is ``plate_id`` in any case, its header
    deferred (read only if its geometry must be built).

    One raw query on the ``plate_id_any_case`` index: plate ids name plates in every SODA
    and DataLink call and every PLATE-ID field, where compiling the ORM's query cost more
    than the database took to answer it.
    """
    return next(iter(Plate.objects.raw(_named_sql(), [plate_id, survey])), None)


def _named_sql() -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(f.attname) for f in Plate._meta.concrete_fields if f.name != "header")
    return (
        f"SELECT {columns} FROM {q(Plate._meta.db_table)} "
        f"WHERE UPPER({q('plate_id')}) = UPPER(%s) AND {q('survey')} = %s"
    )


def plate_header(plate: Plate) -> fits.Header:
    """The stored header of a plate (80-character cards)."""
    return fits.Header.fromstring(plate.header)


_GEOMETRY_CACHE_SIZE = 4096
_geometry_lock = threading.Lock()
_geometries: OrderedDict[tuple[int, ...], tuple[object, PlateGeometry]] = OrderedDict()


def plate_geometry(plate: Plate) -> PlateGeometry:
    """The geometry of a catalogued plate over its digitized extent, cached per process.

    The cache entry is dropped when the row changes (``updated_at`` or the extent).
    """
    area = DigitizedArea(plate.x0, plate.y0, plate.width_px, plate.height_px)
    return _cached_geometry(plate, area)


def partly_scanned(plate: Plate) -> bool:
    """Whether only part of the catalogued plate is scanned here."""
    return plate.width_px < plate.plate_width_px or plate.height_px < plate.plate_height_px


def whole_plate_geometry(plate: Plate) -> PlateGeometry:
    """The geometry of the whole catalogued plate, scanned here or not, cached per process:
    what a partly scanned plate covers beyond its scan."""
    return _cached_geometry(plate, DigitizedArea(0, 0, plate.plate_width_px, plate.plate_height_px))


def _cached_geometry(plate: Plate, area: DigitizedArea) -> PlateGeometry:
    key = (plate.pk, area.x0, area.y0, area.nx, area.ny)
    with _geometry_lock:
        cached = _geometries.get(key)
        if cached is not None and cached[0] == plate.updated_at:
            _geometries.move_to_end(key)
            return cached[1]
    geometry = PlateGeometry(plate_header(plate), area=area)
    with _geometry_lock:
        _geometries[key] = (plate.updated_at, geometry)
        _geometries.move_to_end(key)
        while len(_geometries) > _GEOMETRY_CACHE_SIZE:
            _geometries.popitem(last=False)
    return geometry


#: The columns an outline needs, in :class:`PlateOutline`'s order.
_OUTLINE_FIELDS = (
    "plate_id",
    "ra_deg",
    "dec_deg",
    "pixel_scale_arcsec",
    "x0",
    "y0",
    "width_px",
    "height_px",
    "plate_width_px",
    "online",
)


def plate_outlines(plates: QuerySet[Plate]) -> list[PlateOutline]:
    """The outlines of many plates, read as plain rows: thousands of model instances (and
    their header texts) would cost more than drawing them."""
    return [PlateOutline(*row) for row in plates.values_list(*_OUTLINE_FIELDS)]


def plate_outline(plate: Plate) -> PlateOutline:
    """What the sky pictures need of a plate: centre, scale and digitized extent."""
    return PlateOutline(
        plate_id=plate.plate_id,
        ra_deg=plate.ra_deg,
        dec_deg=plate.dec_deg,
        scale_arcsec=plate.pixel_scale_arcsec,
        x0=plate.x0,
        y0=plate.y0,
        width_px=plate.width_px,
        height_px=plate.height_px,
        plate_size_px=plate.plate_width_px,
        online=plate.online,
    )


def whole_plate_outline(plate: Plate) -> PlateOutline:
    """The outline of the whole catalogued plate, never filled: of a plate scanned here only
    in part, its pixels are not all here."""
    return replace(
        plate_outline(plate),
        x0=0,
        y0=0,
        width_px=plate.plate_width_px,
        height_px=plate.plate_height_px,
        online=False,
    )
