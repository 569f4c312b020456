"""The surveys and bands this archive serves, the plate modes and the output compressions:
facts as data, once.

Pure Python; no Django. The request-list parser, plate selection, plate import, the models'
choices (read at run time, so a new row needs no migration), the forms, the replies, the
admin, the downloads, the synthetic sky and the FITS writer all read these tables, so that a
new survey, band or compression is one row here (and its tests), not a hunt through the code.

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
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "BANDS",
    "COMPRESSIONS",
    "MODES",
    "SURVEYS",
    "SURVEY_BANDS",
    "Band",
    "Compression",
    "PlateMode",
    "Programme",
    "Survey",
    "SurveyBand",
    "band_from_plate",
    "band_name",
    "band_row",
    "compressed_suffixes",
    "compression",
    "compressions_text",
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


@dataclass(frozen=True)
class Band:
    """A photographic band: what ``Plate.band`` stores and how a plate header tells it.

    Attributes
    ----------
    letter
        ``Plate.band`` value (one character).
    name
        Words for replies and the admin (``"red"``).
    plate_letters
        The survey letters of its plates (``"E/F"``), shown beside the name in the admin.
    emulsions
        EMULSION header values of its plates; matched on upper-case letters and digits
        only, anywhere in the header value (``"IIIa-F"`` is ``IIIaF``).
    filters
        Starts of FILTER header values that decide the band whatever the emulsion.
    label_initials
        First letters of the DSS1 plate labels (PLTLABEL) of its plates, read only when the
        header names no emulsion.
    """

    letter: str
    name: str
    plate_letters: str
    emulsions: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    label_initials: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """E.g. ``"red (E/F)"``."""
        return f"{self.name} ({self.plate_letters})"


class PlateMode(StrEnum):
    """Column 12 of a request line: how the plate is chosen (``Field.mode``)."""

    EDGE = "e"
    CENTRE = "c"
    PLATE = "plate"
    LIST = "n"
    MOSAIC = "m"

    @property
    def makes_image(self) -> bool:
        """False for mode n, which lists the plates instead of cutting one."""
        return self is not PlateMode.LIST


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
        colour = f" {band_name(self.band)}" if self.band else ""
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

#: Every band, by ``Plate.band`` value; the filters are checked before the emulsions.
BANDS: dict[str, Band] = {
    b.letter: b
    for b in (
        Band("B", "blue", "J", emulsions=("IIIaJ", "103aO", "IIaO"), label_initials=("J", "O")),
        Band("R", "red", "E/F", emulsions=("IIIaF", "103aE", "4415"), label_initials=("E",)),
        Band("I", "near infrared", "N", emulsions=("IV-N",), filters=("RG9",)),
    )
}

#: What each mode does, for the models, the forms and the request page.
MODES: dict[PlateMode, str] = {
    PlateMode.EDGE: "e: the plate whose edge is furthest from the field",
    PlateMode.CENTRE: "c: the plate whose centre is closest",
    PlateMode.PLATE: "a plate I name (plate id)",
    PlateMode.LIST: "n: no image, list the plates that cover the field",
    PlateMode.MOSAIC: "m: mosaic of every online plate covering the field (resampled)",
}

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


def band_name(letter: str, unknown: str | None = None) -> str:
    """``"red"`` for ``"R"``; ``unknown`` (default: the letter itself) for another letter."""
    band = BANDS.get(letter)
    if band is not None:
        return band.name
    return letter if unknown is None else unknown


def _letters_digits(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def band_from_plate(*, emulsion: str, filter_name: str, label: str) -> str:
    """The band letter of a plate from its EMULSION, FILTER and PLTLABEL header values;
    ``""`` when none tells."""
    emulsion_key = _letters_digits(emulsion)
    filter_key = filter_name.upper()
    for band in BANDS.values():
        if band.filters and filter_key.startswith(band.filters):
            return band.letter
    for band in BANDS.values():
        if any(_letters_digits(e) in emulsion_key for e in band.emulsions):
            return band.letter
    if not emulsion_key and label:
        for band in BANDS.values():
            if label[0].upper() in band.label_initials:
                return band.letter
    return ""


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


def compressions_text() -> str:
    """``"G (gzip), B (bzip2), X (xz) or U (none)"``."""
    parts = [f"{c.code} ({c.codec})" for c in COMPRESSIONS.values()]
    return ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]


def compressed_suffixes() -> tuple[str, ...]:
    """The file suffixes of the compressed outputs: ``(".gz", ".bz2", ".xz")``."""
    return tuple(c.suffix for c in COMPRESSIONS.values() if c.suffix)


def output_file_name(stem: str, code: str) -> str:
    """``<stem>.fits`` plus the suffix of compression ``code`` (``.gz``, ``.bz2``, ``.xz``)."""
    return f"{stem}.fits{COMPRESSIONS[code].suffix}"


def expected_data_bytes(survey: str, width_arcmin: float, height_arcmin: float) -> int:
    """Uncompressed data bytes of a ``width x height`` cut-out at the survey's nominal scale."""
    scale = SURVEYS[survey].nominal_arcsec_per_pixel
    nx = max(1, math.ceil(width_arcmin * 60.0 / scale - 1e-9))
    ny = max(1, math.ceil(height_arcmin * 60.0 / scale - 1e-9))
    return BYTES_PER_PIXEL * nx * ny
