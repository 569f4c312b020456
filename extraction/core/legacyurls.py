"""The old DSS cut-out URLs that scripts still call: STScI's ``/cgi-bin/dss_search`` and
ESO's ``/dss/dss``, read with those services' own parameter meanings, units and defaults.

Pure astropy; no Django. Each form becomes a :class:`LegacyField`: a J2000 centre, a size
in arcmin, the survey tokens of this archive to try in order, and the output format of
``services.cutouts``. A survey this archive does not hold is refused with 404 and a sentence
naming what it does hold; a malformed value with 400.

STScI (``DSS_ICD`` 1.6): ``r``/``ra`` right ascension and ``d``/``dec`` declination
(sexagesimal, R.A. in hours, or decimal degrees), ``e``/``equinox`` ``J2000`` (default) or
``B1950``, ``h``/``height`` and ``w``/``width`` arcmin (default 15), ``f``/``format``
``fits`` (default) or ``gif``, ``c``/``compression`` ``none`` (default) or ``gz``/``gzip``
(FITS only), ``v``/``version`` the survey (default ``1``). Parameter names are
case-sensitive there, values are not; here names are also accepted in upper case.

ESO (archive.eso.org/dss/dss, and ``/dss/dss/image`` as scripts call it): ``ra``, ``dec``
(sexagesimal, R.A. in hours, or decimal degrees) or ``name`` (an object name, resolved when
no position is given), ``equinox`` (``J2000`` default), ``x``/``y`` width and height in
arcmin (default 5; ``units=arcmin`` as scripts send it), ``Sky-Survey`` ``DSS1`` (default),
``DSS2-red``, ``DSS2-blue``, ``DSS2-infrared`` (also ``DSS2`` for red and the short forms
``1``, ``2r``, ``2b``, ``2i``), ``mime-type`` ``application/x-fits`` (default),
``display/gz-fits``, ``image/gif``, ``image/jpeg``, and the ``download-fits``,
``download-gz-fits`` and ``download-gif`` of ESO's form, which send the file as an
attachment. Other parameters (``statsmode``) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from extraction.core.positions import PositionError, list_position, parse_position

_HELD = "this archive holds DSS1 (POSS-I E and SERC J) and DSS2 red, blue and near infrared"


class LegacyRequestError(ValueError):
    """A call of an old URL that is not served: HTTP status and the sentence to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class LegacyField:
    """One cut-out asked through an old URL, in this archive's terms."""

    ra_deg: float  # J2000
    dec_deg: float
    width_arcmin: float
    height_arcmin: float
    surveys: tuple[str, ...]  # tokens tried in order until one serves the field
    band: str | None  # a band the serving plate must have (poss1_red), or None
    output_format: str  # fits, fits.gz, gif, jpeg
    identifier: str
    attachment: bool = False  # sent to be saved (ESO's download-*), not shown


#: STScI ``v`` values: the survey tokens tried in order, and the band required.
STSCI_SURVEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "1": (("DSS1",), None),
    "2": (("DSS2R",), None),
    "3": (("DSS2R", "DSS1"), None),
    "poss2ukstu_red": (("DSS2R",), None),
    "poss2ukstu_blue": (("DSS2B",), None),
    "poss2ukstu_ir": (("DSS2I",), None),
    "poss1_red": (("DSS1",), "R"),
    "all": (("DSS2R", "DSS2B", "DSS2I", "DSS1"), None),
}
#: STScI surveys not held here, and why.
STSCI_NOT_HELD: dict[str, str] = {
    "4": "the Quick-V survey (v=4) is not held",
    "quickv": "the Quick-V survey is not held",
    "phase2_gsc1": "the GSC 1 Phase II plates (Quick-V) are not held",
    "phase2_gsc2": "the GSC 2 Phase II plates are not held",
    "poss1_blue": "the POSS-I O (blue) plates are not held; v=1 gives DSS1 (POSS-I E red in "
    "the north, SERC J blue in the south)",
}
#: ESO ``Sky-Survey`` values.
ESO_SURVEYS: dict[str, str] = {
    "dss1": "DSS1",
    "dss2-red": "DSS2R",
    "dss2-blue": "DSS2B",
    "dss2-infrared": "DSS2I",
    # As scripts written for ESO's service send them.
    "dss2": "DSS2R",
    "1": "DSS1",
    "2r": "DSS2R",
    "2b": "DSS2B",
    "2i": "DSS2I",
}
#: ESO ``mime-type`` values: the output format, and whether it is sent as an attachment.
ESO_FORMATS: dict[str, tuple[str, bool]] = {
    "application/x-fits": ("fits", False),
    "display/gz-fits": ("fits.gz", False),
    "image/gif": ("gif", False),
    "image/jpeg": ("jpeg", False),
    "download-fits": ("fits", True),
    "download-gz-fits": ("fits.gz", True),
    "download-gif": ("gif", True),
}

#: A resolver of object names: J2000 (ra, dec) in degrees; raises LegacyRequestError.
NameResolver = Callable[[str], tuple[float, float]]


def _first(params: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        for key in (name, name.upper()):
            value = params.get(key)
            if value is not None and value.strip():
                return value.strip()
    return None


def _size(text: str | None, name: str, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise LegacyRequestError(400, f"{name} is a size in arcmin, not {text[:40]!r}.") from None
    if not value > 0.0:
        raise LegacyRequestError(400, f"{name} must be a positive size in arcmin.")
    if value >= 1e6:
        raise LegacyRequestError(400, f"{name} = {value:g} arcmin is larger than the sky.")
    return value


def _centre(ra_text: str | None, dec_text: str | None, equinox: str | None) -> tuple[float, float]:
    if ra_text is None or dec_text is None:
        raise LegacyRequestError(
            400, "give the position: right ascension and declination (e.g. 10 45 03 and -59 41 04)."
        )
    frame = (equinox or "J2000").upper()
    if frame not in ("J2000", "B1950", "2000", "1950"):
        raise LegacyRequestError(400, f"equinox must be J2000 or B1950, not {frame[:20]!r}.")
    frame = "B1950" if frame.endswith("1950") else "J2000"
    try:
        ra, dec = parse_position(ra_text, dec_text, frame)  # type: ignore[arg-type]
    except PositionError as exc:
        raise LegacyRequestError(400, str(exc)) from None
    position = list_position(ra, dec, frame)  # type: ignore[arg-type]
    return position.ra_j2000_deg, position.dec_j2000_deg


def stsci_field(params: Mapping[str, str]) -> LegacyField:
    """The cut-out a ``dss_search`` call asks for.

    Raises
    ------
    LegacyRequestError
        400 for a malformed value, 404 for a survey not held here.
    """
    version = (_first(params, "v", "version") or "1").lower()
    if version in STSCI_NOT_HELD:
        raise LegacyRequestError(404, f"{STSCI_NOT_HELD[version]}: {_HELD}.")
    if version not in STSCI_SURVEYS:
        known = ", ".join(STSCI_SURVEYS)
        raise LegacyRequestError(400, f"unknown survey v={version[:30]!r}; use one of {known}.")
    surveys, band = STSCI_SURVEYS[version]
    ra, dec = _centre(
        _first(params, "r", "ra"), _first(params, "d", "dec"), _first(params, "e", "equinox")
    )
    image = (_first(params, "f", "format") or "fits").lower()
    packing = (_first(params, "c", "compression") or "none").lower()
    if image not in ("fits", "gif"):
        raise LegacyRequestError(400, f"f must be fits or gif, not {image[:20]!r}.")
    if packing not in ("none", "gz", "gzip", "unix"):
        raise LegacyRequestError(400, f"c must be none or gz, not {packing[:20]!r}.")
    if packing == "unix":
        raise LegacyRequestError(400, "c=unix (compress, .Z) is not offered; use c=gz or none.")
    output = "gif" if image == "gif" else ("fits.gz" if packing in ("gz", "gzip") else "fits")
    return LegacyField(
        ra_deg=ra,
        dec_deg=dec,
        width_arcmin=_size(_first(params, "w", "width"), "w", 15.0),
        height_arcmin=_size(_first(params, "h", "height"), "h", 15.0),
        surveys=surveys,
        band=band,
        output_format=output,
        identifier="dss_search",
    )


def eso_field(params: Mapping[str, str], *, resolve: NameResolver | None = None) -> LegacyField:
    """The cut-out an ESO ``/dss/dss`` call asks for; ``resolve`` turns a ``name`` given
    without a position into one.

    Raises
    ------
    LegacyRequestError
        400 for a malformed value, 404 for a survey not held here (or a name not known).
    """
    survey = (_first(params, "Sky-Survey", "sky-survey", "SKY-SURVEY") or "DSS1").lower()
    if survey not in ESO_SURVEYS:
        raise LegacyRequestError(
            404,
            f"Sky-Survey {survey[:30]!r} is not held: use DSS1, DSS2-red, DSS2-blue or "
            f"DSS2-infrared ({_HELD}).",
        )
    mime = (_first(params, "mime-type", "Mime-Type", "MIME-TYPE") or "application/x-fits").lower()
    if mime not in ESO_FORMATS:
        raise LegacyRequestError(
            400, f"mime-type must be one of {', '.join(ESO_FORMATS)}, not {mime[:40]!r}."
        )
    units = (_first(params, "units") or "arcmin").lower()
    if units != "arcmin":
        raise LegacyRequestError(400, f"units must be arcmin (x and y), not {units[:20]!r}.")
    ra, dec = _eso_centre(params, resolve)
    output_format, attachment = ESO_FORMATS[mime]
    return LegacyField(
        ra_deg=ra,
        dec_deg=dec,
        width_arcmin=_size(_first(params, "x"), "x", 5.0),
        height_arcmin=_size(_first(params, "y"), "y", 5.0),
        surveys=(ESO_SURVEYS[survey],),
        band=None,
        output_format=output_format,
        identifier="eso_dss",
        attachment=attachment,
    )


def _eso_centre(params: Mapping[str, str], resolve: NameResolver | None) -> tuple[float, float]:
    """The position given, or else the one of the object named (ESO's form sends an empty
    ``ra``/``dec`` beside a ``name``, or the other way round)."""
    ra, dec, name = _first(params, "ra"), _first(params, "dec"), _first(params, "name")
    if ra is None and dec is None and name is not None:
        if resolve is None:
            raise LegacyRequestError(400, "give the position (ra, dec); names are not resolved.")
        return resolve(name)
    return _centre(ra, dec, _first(params, "equinox"))
