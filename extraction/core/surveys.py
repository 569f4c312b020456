"""The surveys and bands this archive serves, and the output compressions: facts as data, once.

Pure Python; no Django. The request-list parser, plate selection, the models' choices, the
replies, the admin, the synthetic sky and the FITS writer all read these tables, so that a new
survey or band is one row here (and its tests), not a hunt through the code.

Vocabulary
----------
*Survey* (``DSS1``, ``DSS2``)
    One digitization: a scanner pixel size, a full-plate size, the plates it holds. This is
    what ``Plate.survey`` stores.
*Band row* (request token ``DSS1``, ``DSS2``, ``DSS2R``, ``DSS2B``, ``DSS2I``)
    What column 11 of a request line names: a survey and the band of its plates that serve
    images (``None``: every plate of the survey, as for DSS1, whose northern plates are red
    and southern ones blue). ``DSS2`` is the red survey, as the original service and STScI
    serve it; ``DSS2R`` is the same row under its explicit name.
*Programme*
    The plates of one emulsion and filter on one telescope (POSS-II F, SERC-EJ ...).

Units: plate scale arcsec/mm, scanner pixels microns, plate sizes pixels per side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "BAND_NAMES",
    "COMPRESSIONS",
    "SURVEYS",
    "SURVEY_BANDS",
    "Compression",
    "Programme",
    "Survey",
    "SurveyBand",
    "band_row",
    "compression",
    "output_file_name",
    "programme_of",
    "survey_for_pixel_size",
    "survey_help",
    "survey_tokens_text",
]

#: Plate scale of both 48-inch Schmidt telescopes (Palomar and UK), arcsec per mm, as the
#: real DSS headers write it (PLTSCALE = 67.2).
SCHMIDT_PLATE_SCALE_ARCSEC_PER_MM: Final = 67.2

#: Bytes per pixel of a cut-out (BITPIX 16).
BYTES_PER_PIXEL: Final = 2

#: How far (microns) a header's XPIXELSZ may be from a survey's scanner pixel size.
_PIXEL_SIZE_TOLERANCE_UM: Final = 0.1

#: Words for the band letters, for replies and the admin.
BAND_NAMES: Final[dict[str, str]] = {
    "R": "red",
    "B": "blue",
    "I": "near infrared",
}


@dataclass(frozen=True)
class Survey:
    """One digitized survey.

    Attributes
    ----------
    name
        ``Plate.survey`` value, e.g. ``"DSS1"`` (at most 4 characters).
    plate_size_px
        Pixels per side of a fully digitized plate.
    pixel_size_um
        Scanner pixel size, microns (the XPIXELSZ of its headers).
    nominal_arcsec_per_pixel
        The pixel scale the original service quotes for expected sizes (1.7" DSS1, 1.0"
        DSS2): what the quota check before extraction counts.
    plate_scale_arcsec_per_mm
        Plate scale (PLTSCALE), arcsec per mm.
    """

    name: str
    plate_size_px: int
    pixel_size_um: float
    nominal_arcsec_per_pixel: float
    plate_scale_arcsec_per_mm: float = SCHMIDT_PLATE_SCALE_ARCSEC_PER_MM

    @property
    def pixel_scale_arcsec(self) -> float:
        """Pixel size on the sky at the plate centre, arcsec (1.699" DSS1, 1.008" DSS2)."""
        return self.pixel_size_um / 1000.0 * self.plate_scale_arcsec_per_mm

    @property
    def bytes_per_square_arcmin(self) -> float:
        """Expected uncompressed data bytes per square arcminute of a cut-out."""
        return BYTES_PER_PIXEL * (60.0 / self.nominal_arcsec_per_pixel) ** 2

    @property
    def plate_half_size_deg(self) -> float:
        """Angular distance from the centre of a full plate to the middle of an edge, degrees."""
        size_mm = self.plate_size_px * self.pixel_size_um / 1000.0
        return size_mm / 2.0 * self.plate_scale_arcsec_per_mm / 3600.0


@dataclass(frozen=True)
class Programme:
    """One photographic programme: plates of one emulsion and filter on one telescope.

    ``emulsion``, ``filter`` and ``telescope`` are the EMULSION, FILTER and TELESCOP header
    values; ``hemisphere`` is ``"north"`` or ``"south"``. ``passband_nm`` is the wavelength
    range (nm) the plates record: from the filter's cut-on to the emulsion's red cut-off
    (the ObsCore ``em_min``/``em_max`` of their images).
    """

    name: str
    survey: str
    band: str
    emulsion: str
    filter: str
    telescope: str
    hemisphere: str
    passband_nm: tuple[float, float]


@dataclass(frozen=True)
class SurveyBand:
    """What a request token of column 11 names.

    Attributes
    ----------
    token
        The canonical request token (upper case, at most 5 characters: ``Field.survey``).
    survey
        The survey whose plates serve it.
    band
        The band of the plates that serve images; ``None`` for every plate of the survey.
    programmes
        The programmes of those plates, north then south.
    aliases
        Other tokens that mean the same row (``DSS2`` for ``DSS2R``).
    """

    token: str
    survey: Survey
    band: str | None
    programmes: tuple[Programme, ...]
    aliases: tuple[str, ...] = field(default=())

    @property
    def description(self) -> str:
        """E.g. ``"DSS2 red (POSS-II F, SERC-ER/AAO-R)"``."""
        colour = f" {BAND_NAMES.get(self.band, self.band)}" if self.band else ""
        names = ", ".join(p.name for p in self.programmes)
        return f"{self.survey.name}{colour} ({names})"


@dataclass(frozen=True)
class Compression:
    """An output compression of column 13: its code, its codec and the file suffix."""

    code: str
    codec: str
    suffix: str


# -- The tables -------------------------------------------------------------------------

DSS1: Final = Survey(
    "DSS1", plate_size_px=14000, pixel_size_um=25.28445, nominal_arcsec_per_pixel=1.7
)
DSS2: Final = Survey("DSS2", plate_size_px=23040, pixel_size_um=15.0, nominal_arcsec_per_pixel=1.0)

#: Every survey, by ``Plate.survey`` value.
SURVEYS: dict[str, Survey] = {s.name: s for s in (DSS1, DSS2)}

_PALOMAR_1: Final = "Palomar 48-inch Schmidt"
_PALOMAR_2: Final = "Oschin 48-inch Schmidt"
_UKST: Final = "UK 48-inch Schmidt"

POSS_I_E: Final = Programme(
    "POSS-I E", "DSS1", "R", "103aE", "red plexiglas", _PALOMAR_1, "north", (620.0, 670.0)
)
SERC_J: Final = Programme("SERC J", "DSS1", "B", "IIIaJ", "GG395", _UKST, "south", (395.0, 540.0))
POSS_II_F: Final = Programme(
    "POSS-II F", "DSS2", "R", "IIIaF", "RG610", _PALOMAR_2, "north", (610.0, 690.0)
)
SERC_R: Final = Programme(
    "SERC-ER/AAO-R", "DSS2", "R", "IIIaF", "OG590", _UKST, "south", (590.0, 690.0)
)
POSS_II_J: Final = Programme(
    "POSS-II J", "DSS2", "B", "IIIaJ", "GG385", _PALOMAR_2, "north", (385.0, 540.0)
)
SERC_EJ: Final = Programme("SERC-EJ", "DSS2", "B", "IIIaJ", "GG395", _UKST, "south", (395.0, 540.0))
POSS_II_N: Final = Programme(
    "POSS-II N", "DSS2", "I", "IV-N", "RG9", _PALOMAR_2, "north", (720.0, 900.0)
)
SERC_I: Final = Programme("SERC-I", "DSS2", "I", "IV-N", "RG715", _UKST, "south", (715.0, 900.0))

#: Every request token's row, in the order the help texts list them.
SURVEY_BANDS: dict[str, SurveyBand] = {
    row.token: row
    for row in (
        SurveyBand("DSS1", DSS1, None, (POSS_I_E, SERC_J)),
        SurveyBand("DSS2R", DSS2, "R", (POSS_II_F, SERC_R), aliases=("DSS2",)),
        SurveyBand("DSS2B", DSS2, "B", (POSS_II_J, SERC_EJ)),
        SurveyBand("DSS2I", DSS2, "I", (POSS_II_N, SERC_I)),
    )
}

#: Output compressions by code; the codec levels are the writer's (``core.cutout``).
COMPRESSIONS: dict[str, Compression] = {
    c.code: c
    for c in (
        Compression("G", "gzip", ".gz"),
        Compression("B", "bzip2", ".bz2"),
        Compression("X", "xz", ".xz"),
        Compression("U", "none", ""),
    )
}


# -- Look-ups --------------------------------------------------------------------------


def band_row(token: str) -> SurveyBand | None:
    """The row a request token names (case-insensitive, aliases included), or None."""
    if not token.isascii():
        return None
    upper = token.upper()
    row = SURVEY_BANDS.get(upper)
    if row is not None:
        return row
    for candidate in SURVEY_BANDS.values():
        if upper in candidate.aliases:
            return candidate
    return None


def programme_of(survey: str, band: str, emulsion: str, filter_name: str) -> Programme | None:
    """The programme of a plate: by emulsion and filter (case and spaces ignored), else the
    only programme of its survey and band in the table; None when nothing matches."""
    programmes = [p for row in SURVEY_BANDS.values() for p in row.programmes]
    own = [p for p in programmes if p.survey == survey]
    wanted = (_squeezed(emulsion), _squeezed(filter_name))
    for programme in own:
        if (_squeezed(programme.emulsion), _squeezed(programme.filter)) == wanted:
            return programme
    # Programmes of one band differ by tens of nm at most: the first (northern) one stands in.
    same_band = [p for p in own if p.band == band]
    return same_band[0] if same_band else None


def _squeezed(text: str) -> str:
    return "".join(text.split()).casefold()


def survey_tokens() -> list[str]:
    """Every accepted token, in help-text order: ``DSS1, DSS2, DSS2R, DSS2B, DSS2I``."""
    tokens: list[str] = []
    for row in SURVEY_BANDS.values():
        tokens += [*row.aliases, row.token]
    return tokens


def survey_tokens_text() -> str:
    """``"DSS1, DSS2, DSS2R, DSS2B or DSS2I"``."""
    tokens = survey_tokens()
    return ", ".join(tokens[:-1]) + f" or {tokens[-1]}" if len(tokens) > 1 else tokens[0]


def survey_help() -> str:
    """One paragraph for the format help of the home page and the replies."""
    parts = []
    for row in SURVEY_BANDS.values():
        names = " = ".join((*row.aliases, row.token))
        parts.append(f"{names}: {row.description}")
    return (
        "Surveys: "
        + "; ".join(parts)
        + ". DSS2 is the red survey unless a band is named. Mode n lists the plates of every "
        "band of the survey, marked by band."
    )


def survey_for_pixel_size(xpixelsz_um: float) -> str | None:
    """The survey whose scanner has this pixel size (microns), or None."""
    for survey in SURVEYS.values():
        if abs(xpixelsz_um - survey.pixel_size_um) < _PIXEL_SIZE_TOLERANCE_UM:
            return survey.name
    return None


def compression(code: str) -> Compression | None:
    """The compression of a column-13 code (case-insensitive), or None."""
    return COMPRESSIONS.get(code.upper()) if code.isascii() else None


def output_file_name(stem: str, code: str) -> str:
    """``<stem>.fits`` plus the suffix of compression ``code`` (``.gz``, ``.bz2``, ``.xz``)."""
    return f"{stem}.fits{COMPRESSIONS[code].suffix}"


def expected_data_bytes(survey: str, width_arcmin: float, height_arcmin: float) -> int:
    """Uncompressed data bytes of a ``width x height`` cut-out at the survey's nominal scale."""
    scale = SURVEYS[survey].nominal_arcsec_per_pixel
    nx = max(1, math.ceil(width_arcmin * 60.0 / scale - 1e-9))
    ny = max(1, math.ceil(height_arcmin * 60.0 / scale - 1e-9))
    return BYTES_PER_PIXEL * nx * ny
