"""Coverage maps (IVOA MOC 2.0, HEALPix order 10, written by mocpy) of each survey and band.

Two maps per collection (DSS1, DSS2R, DSS2B, DSS2I, and DSS2 for its three bands): the
plates whose pixels are online here, and every catalogued plate. A map is the union of the
plates' scanned areas (their ``s_region`` polygons; mocpy keeps every cell a polygon
touches); the catalogued map takes the whole of a plate scanned here only in part, as the
plate finder does. It is written once per catalogue state under
``$DSSPORTAL_DATA_DIR/moc/``: a plate import changes the catalogue stamp, so the next call
rebuilds it (``import_plates`` does at once).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings
from mocpy import MOC

from extraction.core.surveys import SURVEY_BANDS
from extraction.services.obscore import catalogue_footprints, catalogue_stamp

#: HEALPix order of the maps: cells of about 3.4 arcmin.
MOC_ORDER = 10
#: The collections with a map, as ``/vo/moc/<name>.fits`` names them, then the surveys of
#: several bands as a whole (DSS2), as SIA-2's COLLECTION names them too.
MOC_SURVEYS: tuple[str, ...] = tuple(SURVEY_BANDS) + tuple(
    sorted({row.survey.name for row in SURVEY_BANDS.values() if row.band is not None})
)
FORMATS = ("fits", "json")


def _directory() -> Path:
    return Path(settings.DATA_DIR) / "moc"


def coverage_moc(*, survey: str, online_only: bool) -> MOC:
    """The union of the scanned areas of a collection's plates (online ones only, or all)."""
    footprints = catalogue_footprints(survey=survey, online_only=online_only)
    if not footprints:
        return MOC.new_empty(MOC_ORDER)
    polygons = []
    for fp in footprints:
        polygons += [np.asarray(fp.outline_ra), np.asarray(fp.outline_dec)]
    mocs = MOC.from_polygons(polygons, max_depth=MOC_ORDER, n_threads=1)
    union = mocs[0]
    if len(mocs) > 1:
        union = union.union(*mocs[1:])
    return union


def _serialized(moc: MOC, fmt: str, survey: str, online_only: bool) -> bytes:
    if fmt == "json":
        return json.dumps(moc.serialize(format="json")).encode()
    keywords = {
        "EXTNAME": "MOC",
        "MOCTOOL": "mocpy",
        "MOCID": f"ivo://{settings.DSSPORTAL_IVO_AUTHORITY}/dss/moc/{survey}",
        "ORIGIN": settings.DSSPORTAL_IVO_AUTHORITY,
        "COMMENT": f"{survey} plates {'online here' if online_only else 'catalogued'}",
    }
    fd, name = tempfile.mkstemp(suffix=".fits", dir=_directory())
    os.close(fd)
    try:
        moc.save(name, format="fits", overwrite=True, fits_keywords=keywords)
        return Path(name).read_bytes()
    finally:
        Path(name).unlink(missing_ok=True)


def coverage_moc_file(*, survey: str, online_only: bool, fmt: str) -> Path:
    """The map's file for the current catalogue, written when missing (atomically)."""
    if survey not in MOC_SURVEYS or fmt not in FORMATS:
        raise ValueError(f"no coverage map {survey}.{fmt}")
    stamp = hashlib.sha256(repr(catalogue_stamp()).encode()).hexdigest()[:16]
    kind = "online" if online_only else "catalogued"
    directory = _directory()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{survey}-{kind}-{stamp}.{fmt}"
    if path.exists():
        return path
    payload = _serialized(
        coverage_moc(survey=survey, online_only=online_only), fmt, survey, online_only
    )
    fd, scratch = tempfile.mkstemp(suffix=".part", dir=directory)
    with os.fdopen(fd, "wb") as out:
        out.write(payload)
    os.replace(scratch, path)
    for stale in directory.glob(f"{survey}-{kind}-*.{fmt}"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


def coverage_mocs_refresh() -> list[Path]:
    """Write every map of the current catalogue (after an import)."""
    return [
        coverage_moc_file(survey=survey, online_only=online, fmt=fmt)
        for survey in MOC_SURVEYS
        for online in (True, False)
        for fmt in FORMATS
    ]
