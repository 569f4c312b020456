"""IVOA DALI / SIA-2 query parameters: parsed and checked, or refused with a ``UsageError``.

Pure Python; no Django. Parameter names are case-insensitive; a parameter given several
times means any of its values (OR), different parameters must all hold (AND). Numbers are
decimal; intervals are ``"low high"`` with ``-inf``/``+inf`` for open ends (a single number
is the interval ``[x, x]``). Units: positions and sizes degrees, ``BAND`` metres (vacuum
wavelength), ``TIME`` MJD (UTC days), ``EXPTIME`` seconds, ``SPATRES`` arcsec.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from extraction.core.regions import Circle, Polygon, Range, Region

#: Rows a query returns when MAXREC is not given, and the most it may ask for.
DEFAULT_MAXREC = 1000
MAX_MAXREC = 20000

#: FORMAT values that match every plate: the DataLink document of each row, and the FITS
#: images it leads to (TOPCAT asks for ``image/fits``).
MATCHED_FORMATS = frozenset(
    {
        "all",
        "application/x-votable+xml;content=datalink",
        "image/fits",
        "application/fits",
    }
)
_VOTABLE_FORMATS = frozenset(
    {"votable", "application/x-votable+xml", "text/xml", "application/xml"}
)
#: The string-valued parameters and the ObsCore column each matches (case-insensitively).
STRING_PARAMETERS: dict[str, str] = {
    "COLLECTION": "obs_collection",
    "DPTYPE": "dataproduct_type",
    "INSTRUMENT": "instrument_name",
    "FACILITY": "facility_name",
    "TARGET": "target_name",
    "ID": "obs_publisher_did",
}
#: The interval parameters and the ObsCore columns they bound.
INTERVAL_PARAMETERS: dict[str, tuple[str, str]] = {
    "BAND": ("em_min", "em_max"),
    "TIME": ("t_min", "t_max"),
    "FOV": ("s_fov", "s_fov"),
    "SPATRES": ("s_resolution", "s_resolution"),
    "EXPTIME": ("t_exptime", "t_exptime"),
}


class UsageError(ValueError):
    """A query that cannot be answered as written; ``str()`` is the sentence after
    ``UsageError:`` in the DALI error document."""


@dataclass(frozen=True)
class SiaQuery:
    """A checked SIA-2 query. Each tuple holds the alternatives of one parameter."""

    regions: tuple[Region, ...] = ()
    intervals: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    strings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    calib: tuple[int, ...] = ()
    formats: tuple[str, ...] = ()
    pol: tuple[str, ...] = ()
    maxrec: int = DEFAULT_MAXREC


def grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Parameter values by upper-case name, in the order given."""
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name.upper(), []).append(value)
    return out


def number(text: str, what: str, *, infinite: bool = False) -> float:
    """A decimal number (``inf``/``-inf`` only where ``infinite``)."""
    word = text.strip()
    try:
        if len(word) > 40:
            raise ValueError
        value = float(word)
    except ValueError:
        raise UsageError(f"{what} must be a number, not {word[:40]!r}") from None
    if math.isnan(value) or (math.isinf(value) and not infinite):
        raise UsageError(f"{what} must be a finite number, not {word[:40]!r}")
    return value


def region_of(text: str) -> Region:
    """A DALI shape: ``CIRCLE ra dec r``, ``RANGE ra1 ra2 dec1 dec2``, ``POLYGON ra dec ...``."""
    words = text.split()
    shape = words[0].upper() if words else ""
    values = words[1:]
    if shape == "CIRCLE":
        return _circle(values)
    if shape == "RANGE":
        return _range(values)
    if shape == "POLYGON":
        return _polygon(values)
    raise UsageError(
        f"POS must be CIRCLE ra dec radius, RANGE ra1 ra2 dec1 dec2 or POLYGON ra1 dec1 ra2 "
        f"dec2 ra3 dec3 ... (degrees), not {text.strip()[:60]!r}"
    )


def _checked_position(ra: float, dec: float, shape: str) -> None:
    if not 0.0 <= ra <= 360.0 or not -90.0 <= dec <= 90.0:
        raise UsageError(f"{shape}: a position needs 0 <= ra <= 360 and -90 <= dec <= 90 degrees")


def _circle(values: Sequence[str]) -> Circle:
    if len(values) != 3:
        raise UsageError(f"CIRCLE takes 3 numbers (ra dec radius, degrees), not {len(values)}")
    ra, dec, radius = (
        number(v, f"CIRCLE {n}") for v, n in zip(values, ("ra", "dec", "radius"), strict=True)
    )
    _checked_position(ra, dec, "CIRCLE")
    if not 0.0 <= radius <= 180.0:
        raise UsageError("CIRCLE radius must be from 0 to 180 degrees")
    return Circle(ra % 360.0, dec, radius)


def _range(values: Sequence[str]) -> Range:
    if len(values) != 4:
        raise UsageError(
            f"RANGE takes 4 numbers (ra1 ra2 dec1 dec2, degrees, -inf/+inf for open ends), "
            f"not {len(values)}"
        )
    ra1, ra2, dec1, dec2 = (
        number(v, f"RANGE {n}", infinite=True)
        for v, n in zip(values, ("ra1", "ra2", "dec1", "dec2"), strict=True)
    )
    ra1, ra2 = max(ra1, 0.0), min(ra2, 360.0)
    dec1, dec2 = max(dec1, -90.0), min(dec2, 90.0)
    if not (0.0 <= ra1 <= 360.0 and 0.0 <= ra2 <= 360.0):
        raise UsageError("RANGE ra limits must lie from 0 to 360 degrees")
    if not (-90.0 <= dec1 <= dec2 <= 90.0):
        raise UsageError("RANGE needs -90 <= dec1 <= dec2 <= 90 degrees")
    if ra1 == 0.0 and ra2 == 360.0:
        ra2 = 360.0 + ra1  # the whole circle of RA
    return Range(ra1, ra2, dec1, dec2)


def _polygon(values: Sequence[str]) -> Polygon:
    if len(values) < 6 or len(values) % 2:
        raise UsageError(
            f"POLYGON takes pairs of numbers (ra dec, degrees) for at least 3 vertices, "
            f"not {len(values)} numbers"
        )
    numbers = [number(v, "POLYGON vertex") for v in values]
    ras, decs = tuple(numbers[0::2]), tuple(numbers[1::2])
    for ra, dec in zip(ras, decs, strict=True):
        _checked_position(ra, dec, "POLYGON")
    polygon = Polygon(tuple(r % 360.0 for r in ras), decs)
    _centre, radius = polygon.reach()
    if radius >= 90.0:
        raise UsageError("POLYGON must fit within a hemisphere (use RANGE for larger areas)")
    return polygon


#: The unit of each interval parameter, as its error messages name it.
INTERVAL_UNITS = {
    "BAND": "metres of vacuum wavelength",
    "TIME": "MJD, UTC days",
    "FOV": "degrees",
    "SPATRES": "arcsec",
    "EXPTIME": "seconds",
}


def interval_of(text: str, name: str) -> tuple[float, float]:
    """``"low high"`` (or one number) with ``-inf``/``+inf`` allowed; low <= high."""
    words = text.split()
    what = f"{name} ({INTERVAL_UNITS[name]})" if name in INTERVAL_UNITS else name
    if len(words) not in (1, 2):
        raise UsageError(f"{what} is an interval: two numbers 'low high' (-inf/+inf open)")
    low = number(words[0], what, infinite=True)
    high = number(words[-1], what, infinite=True)
    if low > high:
        raise UsageError(f"{name}: the low end {low:g} is above the high end {high:g}")
    return low, high


def _maxrec(values: Sequence[str]) -> int:
    text = values[-1].strip()
    if not (text.isascii() and text.isdigit()):
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise UsageError(f"MAXREC must be a whole number 0 or more, not {shown!r}")
    # Any larger number is the service's limit (SIA-2 lets a service cap MAXREC).
    return MAX_MAXREC if len(text) > 9 else min(int(text), MAX_MAXREC)


def _response_format(values: Sequence[str]) -> None:
    for value in values:
        if value.strip().lower().split(";")[0] not in _VOTABLE_FORMATS:
            raise UsageError(
                f"RESPONSEFORMAT {value.strip()[:60]!r} is not offered; this service answers "
                "with VOTable (application/x-votable+xml)"
            )


def sia_query_of(params: Mapping[str, Sequence[str]]) -> SiaQuery:
    """Check SIA-2 parameters (names upper-cased, see :func:`grouped`) into a query.

    Raises
    ------
    UsageError
        For any value that is not of its parameter's form. Unknown parameters are ignored,
        as DALI asks.
    """
    request = params.get("REQUEST")
    if request and any(v.strip().lower() != "query" for v in request):
        raise UsageError("REQUEST must be 'query' (the only request of SIA-2)")
    _response_format(params.get("RESPONSEFORMAT", []))
    regions = tuple(region_of(v) for v in params.get("POS", []) if v.strip())
    intervals = {
        name: tuple(interval_of(v, name) for v in params[name] if v.strip())
        for name in INTERVAL_PARAMETERS
        if name in params
    }
    strings = {
        name: tuple(v.strip().casefold() for v in params[name] if v.strip())
        for name in STRING_PARAMETERS
        if name in params
    }
    calib = []
    for value in params.get("CALIB", []):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) == 1):
            raise UsageError(f"CALIB must be a calibration level 0 to 4, not {text[:20]!r}")
        calib.append(int(text))
    formats = tuple(v.strip().lower().replace(" ", "") for v in params.get("FORMAT", []) if v)
    maxrec = _maxrec(params["MAXREC"]) if params.get("MAXREC") else DEFAULT_MAXREC
    return SiaQuery(
        regions=regions,
        intervals={k: v for k, v in intervals.items() if v},
        strings={k: v for k, v in strings.items() if v},
        calib=tuple(calib),
        formats=formats,
        pol=tuple(v.strip() for v in params.get("POL", []) if v.strip()),
        maxrec=maxrec,
    )
