"""ObsCore rows for DSS plates: the columns (with their IVOA UCDs and utypes), a plate's
values, and which plates a SIA-2 query selects.

Pure numpy/astropy; no Django. One row describes one plate scan (``obs_id`` = plate id);
its ``s_region`` is the scanned area as the plate solution puts it on the sky, its
``em_min``/``em_max`` the passband of the plate's emulsion and filter (the survey table's
programmes). Units are ObsCore's: degrees, arcsec, metres, MJD days, seconds, kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from extraction.core.dali import (
    INTERVAL_PARAMETERS,
    MATCHED_FORMATS,
    STRING_PARAMETERS,
    SiaQuery,
)
from extraction.core.plates import PlateGeometry
from extraction.core.regions import ConvexOutline, counter_clockwise
from extraction.core.sky import angular_distance_deg
from extraction.core.surveys import band_row, programme_of

#: The media type of ``access_url`` (the DataLink document of the plate).
DATALINK_FORMAT = "application/x-votable+xml;content=datalink"
#: Sky pixels of a scan are photographic densities on a 16-bit scale.
OBSERVABLE_UCD = "phot.flux.density;em.opt"
#: MJD of 1858-11-17, the zero of the Modified Julian Date.
_MJD_ZERO = date(1858, 11, 17)
#: Vertices sampled along each edge of a scanned area for its s_region polygon.
_POINTS_PER_EDGE = 2


@dataclass(frozen=True)
class Column:
    """One column of the ObsCore table as a VOTable FIELD describes it."""

    name: str
    datatype: str
    ucd: str
    utype: str
    unit: str = ""
    arraysize: str | None = None
    xtype: str | None = None
    description: str = ""


def _obscore(utype: str) -> str:
    return f"obscore:{utype}"


#: The ObsCore columns, in the order of the standard's table, plus ``dss_online``.
COLUMNS: tuple[Column, ...] = (
    Column("dataproduct_type", "char", "meta.id", _obscore("ObsDataset.dataProductType"),
           arraysize="*", description="Data product type: image"),
    Column("calib_level", "short", "meta.code;obs.calib", _obscore("ObsDataset.calibLevel"),
           description="1: scanned photographic densities with the plate solution"),
    Column("obs_collection", "char", "meta.id", _obscore("DataID.Collection"), arraysize="*",
           description="Survey and band: DSS1, DSS2R, DSS2B, DSS2I"),
    Column("obs_id", "char", "meta.id", _obscore("DataID.observationID"), arraysize="*",
           description="Plate id"),
    Column("obs_publisher_did", "char", "meta.ref.ivoid", _obscore("Curation.PublisherDID"),
           arraysize="*", description="IVOA identifier of the plate scan"),
    Column("access_url", "char", "meta.ref.url", _obscore("Access.Reference"), arraysize="*",
           description="DataLink document of the plate (whole plate, preview, cut-outs)"),
    Column("access_format", "char", "meta.code.mime", _obscore("Access.Format"),
           arraysize="*", description="Media type behind access_url"),
    Column("access_estsize", "long", "phys.size;meta.file", _obscore("Access.Size"),
           unit="kbyte", description="Uncompressed size of the scan"),
    Column("target_name", "char", "meta.id;src", _obscore("Target.Name"), arraysize="*",
           description="Survey field (region) of the plate"),
    Column("s_ra", "double", "pos.eq.ra",
           _obscore("Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1"),
           unit="deg", description="Centre of the scanned area, ICRS"),
    Column("s_dec", "double", "pos.eq.dec",
           _obscore("Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2"),
           unit="deg", description="Centre of the scanned area, ICRS"),
    Column("s_fov", "double", "phys.angSize;instr.fov",
           _obscore("Char.SpatialAxis.Coverage.Bounds.Extent.diameter"), unit="deg",
           description="Diameter of the circle about (s_ra, s_dec) holding the scanned area"),
    Column("s_region", "char", "pos.outline;obs.field",
           _obscore("Char.SpatialAxis.Coverage.Support.Area"), arraysize="*",
           xtype="adql:REGION", description="Scanned area (STC-S POLYGON ICRS)"),
    Column("s_resolution", "double", "pos.angResolution",
           _obscore("Char.SpatialAxis.Resolution.Refval.value"), unit="arcsec",
           description="Spatial resolution: two pixels (the scan's sampling limit)"),
    Column("s_xel1", "long", "meta.number", _obscore("Char.SpatialAxis.numBins1"),
           description="Pixels along the first axis of the scan"),
    Column("s_xel2", "long", "meta.number", _obscore("Char.SpatialAxis.numBins2"),
           description="Pixels along the second axis of the scan"),
    Column("s_pixel_scale", "double", "phys.angSize;instr.pixel",
           _obscore("Char.SpatialAxis.Sampling.RefVal.SamplingPeriod"), unit="arcsec",
           description="Pixel size on the sky at the plate centre"),
    Column("t_min", "double", "time.start;obs.exposure",
           _obscore("Char.TimeAxis.Coverage.Bounds.Limits.StartTime"), unit="d",
           description="Start of the exposure (MJD)"),
    Column("t_max", "double", "time.end;obs.exposure",
           _obscore("Char.TimeAxis.Coverage.Bounds.Limits.StopTime"), unit="d",
           description="End of the exposure (MJD)"),
    Column("t_exptime", "double", "time.duration;obs.exposure",
           _obscore("Char.TimeAxis.Coverage.Support.Extent"), unit="s",
           description="Exposure time"),
    Column("t_resolution", "double", "time.resolution",
           _obscore("Char.TimeAxis.Resolution.Refval.value"), unit="s",
           description="Temporal resolution: one exposure"),
    Column("t_xel", "long", "meta.number", _obscore("Char.TimeAxis.numBins"),
           description="Samples along time: 1"),
    Column("em_min", "double", "em.wl;stat.min",
           _obscore("Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit"), unit="m",
           description="Blue end of the passband (filter cut-on)"),
    Column("em_max", "double", "em.wl;stat.max",
           _obscore("Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit"), unit="m",
           description="Red end of the passband (emulsion cut-off)"),
    Column("em_res_power", "double", "spect.resolution",
           _obscore("Char.SpectralAxis.Resolution.ResolPower.refVal"),
           description="Spectral resolving power of the passband: its middle over its width"),
    Column("em_xel", "long", "meta.number", _obscore("Char.SpectralAxis.numBins"),
           description="Samples along the spectral axis: 1"),
    Column("facility_name", "char", "meta.id;instr.tel",
           _obscore("Provenance.ObsConfig.Facility.name"), arraysize="*",
           description="Telescope"),
    Column("instrument_name", "char", "meta.id;instr",
           _obscore("Provenance.ObsConfig.Instrument.name"), arraysize="*",
           description="Emulsion/filter of the plate"),
    Column("o_ucd", "char", "meta.ucd", _obscore("Char.ObservableAxis.ucd"), arraysize="*",
           description="What the pixel values measure"),
    Column("pol_states", "char", "meta.code;phys.polarization",
           _obscore("Char.PolarizationAxis.stateList"), arraysize="*",
           description="Empty: not polarimetric"),
    Column("pol_xel", "long", "meta.number", _obscore("Char.PolarizationAxis.numBins"),
           description="Null: not polarimetric"),
    Column("dss_online", "boolean", "meta.code.status", "",
           description="The plate's pixels are held online here (cut-outs served)"),
)  # fmt: skip


@dataclass(frozen=True)
class Footprint:
    """A scanned area on the sky: its centre and outline (counter-clockwise from inside)."""

    ra_deg: float
    dec_deg: float
    outline_ra: tuple[float, ...]
    outline_dec: tuple[float, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "centre": [self.ra_deg, self.dec_deg],
            "ra": list(self.outline_ra),
            "dec": list(self.outline_dec),
        }

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Footprint:
        ra, dec = data["centre"]
        return cls(float(ra), float(dec), tuple(data["ra"]), tuple(data["dec"]))

    @property
    def fov_deg(self) -> float:
        """Diameter of the circle about the centre that holds the outline, degrees."""
        return 2.0 * max(
            _distance_deg(self.ra_deg, self.dec_deg, ra, dec)
            for ra, dec in zip(self.outline_ra, self.outline_dec, strict=True)
        )

    def stc_s(self) -> str:
        """``POLYGON ICRS ra1 dec1 ra2 dec2 ...`` (degrees, 6 decimals: ~4 mas)."""
        pairs = " ".join(
            f"{ra:.6f} {dec:.6f}" for ra, dec in zip(self.outline_ra, self.outline_dec, strict=True)
        )
        return f"POLYGON ICRS {pairs}"

    def outline(self) -> ConvexOutline:
        return ConvexOutline.from_ra_dec(self.outline_ra, self.outline_dec)


def _distance_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    return float(angular_distance_deg(ra1, dec1, ra2, dec2))


def scanned_footprint(geometry: PlateGeometry) -> Footprint:
    """The scanned area of a plate on the sky, from its plate solution.

    The outline runs along the outer edges of the edge pixels (stored-image pixel
    coordinates ``-0.5`` and ``n - 0.5``), ``_POINTS_PER_EDGE`` points per edge; the centre is
    the sky position of the middle of the scanned area.
    """
    area = geometry.area_box()
    x0, x1 = area.x0 - 0.5, area.x1 - 0.5
    y0, y1 = area.y0 - 0.5, area.y1 - 0.5
    t = np.linspace(0.0, 1.0, _POINTS_PER_EDGE, endpoint=False)
    xs = np.concatenate(
        [x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)]
    )
    ys = np.concatenate(
        [np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t]
    )
    ra, dec = geometry.pixel_to_sky(xs, ys)
    ra, dec = counter_clockwise(ra, dec)
    cx, cy = area.centre
    centre_ra, centre_dec = geometry.pixel_to_sky([cx], [cy])
    return Footprint(
        float(centre_ra[0]),
        float(centre_dec[0]),
        tuple(round(float(v), 7) for v in ra),
        tuple(round(float(v), 7) for v in dec),
    )


@dataclass(frozen=True)
class PlateFacts:
    """What an ObsCore row says of a plate (the catalogue row, without Django)."""

    survey: str
    plate_id: str
    region: str
    band: str
    emulsion: str
    filter_name: str
    telescope: str
    epoch: float | None
    date_obs: date | None
    exposure_min: float | None
    pixel_scale_arcsec: float
    width_px: int
    height_px: int
    online: bool
    footprint: Footprint


def collection_of(survey: str, band: str) -> str:
    """``DSS1``; ``DSS2R``, ``DSS2B``, ``DSS2I``: the request token of the plate's survey and
    band (DSS1 plates of both bands are one collection, as the survey is served)."""
    row = band_row(survey)
    if row is not None and row.band is None:
        return survey
    return f"{survey}{band}" if band else survey


def passband_m(facts: PlateFacts) -> tuple[float | None, float | None]:
    """``(em_min, em_max)`` in metres from the plate's emulsion and filter."""
    programme = programme_of(facts.survey, facts.band, facts.emulsion, facts.filter_name)
    if programme is None:
        return None, None
    low, high = programme.passband_nm
    return low * 1e-9, high * 1e-9


def _mjd_of_decimal_year(year: float) -> float:
    whole = math.floor(year)
    start = date(whole, 1, 1)
    length = (date(whole + 1, 1, 1) - start).days
    return (start - _MJD_ZERO).days + (year - whole) * length


def exposure_mjd(facts: PlateFacts) -> tuple[float | None, float | None]:
    """``(t_min, t_max)``: the exposure from the plate epoch (decimal year, its start) and
    length; a plate with only a date spans that whole UTC day."""
    minutes = facts.exposure_min or 0.0
    if facts.epoch is not None:
        start = _mjd_of_decimal_year(facts.epoch)
        return start, start + minutes / 1440.0
    if facts.date_obs is not None:
        start = float((facts.date_obs - _MJD_ZERO).days)
        return start, start + 1.0
    return None, None


def resolving_power(em_min: float | None, em_max: float | None) -> float | None:
    """λ/Δλ of a passband: its middle over its width (None without one)."""
    if em_min is None or em_max is None or em_max <= em_min:
        return None
    return (em_min + em_max) / 2.0 / (em_max - em_min)


def instrument_of(facts: PlateFacts) -> str:
    return "/".join(x for x in (facts.emulsion, facts.filter_name) if x) or "photographic plate"


def obscore_row(facts: PlateFacts, *, publisher_did: str, access_url: str) -> dict[str, object]:
    """The ObsCore values of one plate, by column name (None: no value)."""
    em_min, em_max = passband_m(facts)
    t_min, t_max = exposure_mjd(facts)
    exptime_s = facts.exposure_min * 60.0 if facts.exposure_min is not None else None
    fp = facts.footprint
    return {
        "dataproduct_type": "image",
        "calib_level": 1,
        "obs_collection": collection_of(facts.survey, facts.band),
        "obs_id": facts.plate_id,
        "obs_publisher_did": publisher_did,
        "access_url": access_url,
        "access_format": DATALINK_FORMAT,
        "access_estsize": math.ceil(facts.width_px * facts.height_px * 2 / 1000),
        "target_name": facts.region,
        "s_ra": fp.ra_deg,
        "s_dec": fp.dec_deg,
        "s_fov": fp.fov_deg,
        "s_region": fp.stc_s(),
        "s_resolution": 2.0 * facts.pixel_scale_arcsec,
        "s_xel1": facts.width_px,
        "s_xel2": facts.height_px,
        "s_pixel_scale": facts.pixel_scale_arcsec,
        "t_min": t_min,
        "t_max": t_max,
        "t_exptime": exptime_s,
        "t_resolution": exptime_s,
        "t_xel": 1,
        "em_min": em_min,
        "em_max": em_max,
        "em_res_power": resolving_power(em_min, em_max),
        "em_xel": 1,
        "facility_name": facts.telescope,
        "instrument_name": instrument_of(facts),
        "o_ucd": OBSERVABLE_UCD,
        "pol_states": "",
        "pol_xel": None,
        "dss_online": facts.online,
    }


def _overlaps(low: object, high: object, wanted: Sequence[tuple[float, float]]) -> bool:
    if not isinstance(low, float | int) or not isinstance(high, float | int):
        return False
    return any(lo <= high and low <= hi for lo, hi in wanted)


def collections_named(collection: str) -> set[str]:
    """The names a ``COLLECTION`` value may give for a row's collection, case-folded: the
    collection itself and its survey (``DSS2`` names DSS2R, DSS2B and DSS2I: a SIA-2 client
    asks for a survey as a whole, as the archives list it)."""
    row = band_row(collection)
    names = {collection.casefold()}
    if row is not None:
        names.add(row.survey.name.casefold())
    return names


def _names_of(row: dict[str, object], parameter: str) -> set[str]:
    value = str(row[STRING_PARAMETERS[parameter]])
    if parameter == "COLLECTION":
        return collections_named(value)
    return {value.casefold()}


def row_matches(row: dict[str, object], query: SiaQuery) -> bool:
    """Whether a row satisfies every constraint of the query but POS (tested on outlines).

    Intervals select rows whose own interval (``em_min..em_max``, ``t_min..t_max``, a single
    value for ``FOV``) overlaps one of the asked intervals; strings compare case-insensitively.
    """
    for name, wanted in query.intervals.items():
        low_col, high_col = INTERVAL_PARAMETERS[name]
        if not _overlaps(row[low_col], row[high_col], wanted):
            return False
    for name, values in query.strings.items():
        if not _names_of(row, name) & set(values):
            return False
    if query.calib and row["calib_level"] not in query.calib:
        return False
    if query.formats and not any(f in MATCHED_FORMATS for f in query.formats):
        return False
    return not query.pol  # no plate is polarimetric
