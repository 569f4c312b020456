"""Positions typed into a web form, turned into the columns of a request-list line.

Pure astropy; no Django. The request list (``REQUEST_FORMAT.md``) only knows sexagesimal
J2000 or B1950; the form also accepts decimal degrees and galactic coordinates. Galactic
positions are converted to FK5 J2000 with astropy, so the list line says J2000.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Final, Literal

from astropy import units as u
from astropy.coordinates import FK4, FK5, Angle, SkyCoord
from astropy.coordinates.angles.errors import RangeError
from astropy.utils.exceptions import AstropyWarning

from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra

Frame = Literal["J2000", "B1950", "galactic"]
FRAMES: Final[tuple[Frame, ...]] = ("J2000", "B1950", "galactic")

# A bare decimal number: degrees. Anything with blanks, colons or h/d/m/s letters is sexagesimal.
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class PositionError(ValueError):
    """A position the user typed that cannot be read, with what to type instead."""


@dataclass(frozen=True)
class ListPosition:
    """The position columns of a request-list line.

    Attributes
    ----------
    ra_text, dec_text : str
        ``'hh mm ss.sss'`` and ``'+dd mm ss.ss'``: columns 2-4 and 5-7 of the line.
    equinox : {'J2000', 'B1950'}
        Column 10.
    ra_deg, dec_deg : float
        The same position in degrees, in ``equinox``.
    ra_j2000_deg, dec_j2000_deg : float
        The position in FK5 J2000, degrees (B1950 converted as the list parser does).
    """

    ra_text: str
    dec_text: str
    equinox: Literal["J2000", "B1950"]
    ra_deg: float
    dec_deg: float
    ra_j2000_deg: float
    dec_j2000_deg: float


def _angle(text: str, *, hours: bool, what: str) -> Angle:
    cleaned = " ".join(text.replace(",", ".").split())
    if not cleaned:
        raise PositionError(f"{what} is empty.")
    try:
        if _DECIMAL.match(cleaned):
            return Angle(float(cleaned), unit=u.deg)
        # astropy only warns about 60 minutes or seconds and carries them over: refuse them.
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyWarning)
            return Angle(cleaned, unit=u.hourangle if hours else u.deg)
    except (RangeError, AstropyWarning) as exc:
        raise PositionError(f"{what} {text!r}: {_out_of_range(str(exc))}") from exc
    except (ValueError, u.UnitsError) as exc:
        example = "12 05 13.2, 12:05:13.2 or 181.305" if hours else "-25 17 32, -25:17:32 or -25.29"
        raise PositionError(f"{what} {text!r} is not an angle; type e.g. {example}.") from exc


#: astropy's words for a sexagesimal part out of range ("'hour' was found  to be '24.0', which
#: is not in range (-24, 24). Treating as 24 hr.", "An invalid value for 'minute' was found
#: ('61'); should be in the range [0,60)."), and what we tell the user instead.
_ASTROPY_RANGE = re.compile(r"'(hour|minute|second)s?' was found\s+(?:to be '|\(')([^']*)'")
_PART_RANGES = {
    "hour": "the hours must be 0 to 23",
    "minute": "the minutes must be 0 to 59",
    "second": "the seconds must be at least 0 and below 60",
}


def _out_of_range(astropy_words: str) -> str:
    """A plain sentence for astropy's range warning, which says it accepts the value."""
    found = _ASTROPY_RANGE.search(astropy_words)
    if found is None:
        return astropy_words.rstrip(".") + "."
    part, value = found.groups()
    shown = f"{float(value):g}" if _DECIMAL.match(value) else value
    return f"{_PART_RANGES[part]}, not {shown}."


def parse_position(lon_text: str, lat_text: str, frame: Frame) -> tuple[float, float]:
    """Read a typed position, degrees in ``frame``.

    Parameters
    ----------
    lon_text, lat_text : str
        R.A. and Dec. (or galactic l and b). A bare decimal number is degrees; otherwise
        sexagesimal with blanks, colons or unit letters, R.A. in hours (``12 05 13.2``) and
        Dec., l and b in degrees (``-25 17 32``).
    frame : {'J2000', 'B1950', 'galactic'}

    Returns
    -------
    (lon_deg, lat_deg) : tuple of float
        Longitude in ``[0, 360)``, latitude in ``[-90, 90]``.

    Raises
    ------
    PositionError
        When a text is not an angle or the latitude lies outside +-90 degrees.
    """
    galactic = frame == "galactic"
    lon = _angle(lon_text, hours=not galactic, what="l" if galactic else "R.A.")
    lat = _angle(lat_text, hours=False, what="b" if galactic else "Dec.")
    if abs(lat.degree) > 90.0:
        name = "b" if galactic else "Dec."
        raise PositionError(f"{name} must lie between -90 and +90 degrees, got {lat.degree:g}.")
    return float(lon.wrap_at(360 * u.deg).degree), float(lat.degree)


def position_problems(lon_text: str, lat_text: str, frame: Frame) -> list[tuple[str, str]]:
    """Every problem of a typed position, by the box it is in (``"lon"`` or ``"lat"``):
    both when both are wrong, so that a form says so at once. Empty when it reads."""
    galactic = frame == "galactic"
    problems = []
    try:
        _angle(lon_text, hours=not galactic, what="l" if galactic else "R.A.")
    except PositionError as exc:
        problems.append(("lon", str(exc)))
    try:
        parse_position("0", lat_text, frame)
    except PositionError as exc:
        problems.append(("lat", str(exc)))
    return problems


def list_position(lon_deg: float, lat_deg: float, frame: Frame) -> ListPosition:
    """The request-list columns for a position; galactic becomes FK5 J2000 (astropy)."""
    if frame == "galactic":
        fk5 = SkyCoord(l=lon_deg * u.deg, b=lat_deg * u.deg, frame="galactic").fk5
        ra, dec = float(fk5.ra.degree), float(fk5.dec.degree)
        return _position(ra, dec, "J2000", ra, dec)
    if frame == "B1950":
        # As the list parser reads a B1950 line: FK4 at epoch B1950, no proper motion.
        fk4 = SkyCoord(
            ra=lon_deg * u.deg, dec=lat_deg * u.deg, frame=FK4(equinox="B1950", obstime="B1950")
        )
        fk5 = fk4.transform_to(FK5(equinox="J2000"))
        return _position(lon_deg, lat_deg, "B1950", float(fk5.ra.degree), float(fk5.dec.degree))
    return _position(lon_deg, lat_deg, "J2000", lon_deg, lat_deg)


def _position(
    ra: float, dec: float, equinox: Literal["J2000", "B1950"], ra_j2000: float, dec_j2000: float
) -> ListPosition:
    return ListPosition(
        ra_text=sexagesimal_ra(ra),
        dec_text=sexagesimal_dec(dec),
        equinox=equinox,
        ra_deg=ra,
        dec_deg=dec,
        ra_j2000_deg=ra_j2000,
        dec_j2000_deg=dec_j2000,
    )


def position_designation(lon_deg: float, lat_deg: float, frame: Frame) -> str:
    """A field identifier made from its position, in the frame it was given in.

    IAU-style and truncated, not rounded (as catalogue designations are), so a field always
    lies in the box its name describes: ``J120513.2+304532`` (J2000), ``B120513.2+304532``
    (B1950, FK4), ``G359.9442-0.0462`` (galactic l, b in degrees).
    """
    if frame == "galactic":
        sign = "-" if lat_deg < 0 else "+"
        return f"G{_truncate(lon_deg, 4):08.4f}{sign}{_truncate(abs(lat_deg), 4):.4f}"
    prefix = "B" if frame == "B1950" else "J"
    tenths_of_second = int(lon_deg / 15.0 * 36000.0 + 1e-9) % (24 * 36000)
    hours, rest = divmod(tenths_of_second, 36000)
    minutes, tenths = divmod(rest, 600)
    arcsec = int(abs(lat_deg) * 3600.0 + 1e-9)
    degrees, rest = divmod(arcsec, 3600)
    arcmin, seconds = divmod(rest, 60)
    sign = "-" if lat_deg < 0 else "+"
    return (
        f"{prefix}{hours:02d}{minutes:02d}{tenths // 10:02d}.{tenths % 10}"
        f"{sign}{degrees:02d}{arcmin:02d}{seconds:02d}"
    )


def _truncate(value: float, decimals: int) -> float:
    scale = 10**decimals
    return int(value * scale + 1e-9) / scale
