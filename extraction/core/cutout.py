"""The FITS cut-out: pixels of a plate box under a DSS header plus a standard celestial WCS.

Pure numpy/astropy; no Django.

The output keeps the conventions of STScI's DSS cut-outs: BITPIX 16, the plate's own header
cards (plate solution PLTRAH..., PPO1-6, AMDX/AMDY, XPIXELSZ...) with CNPIX1/CNPIX2 set to the
cut-out's first pixel on the full plate, OBJECT/OBJCTRA/OBJCTDEC/OBJCTX/OBJCTY, the DSS
acknowledgement. The primary WCS is the plate solution itself (WCSLIB, hence astropy's
``WCS(header)``, reads the DSS keywords exactly); the same solution written as a standard
TAN-TPV WCS (exactly, not fitted: ``plates.TpvSolution``) is the alternate WCS ``A``
(``WCS(header, key="A")``), for software that does not read DSS plate solutions. Nothing else
describes the primary WCS, so the three readings agree.

Pixel conventions are those of ``extraction.core.plates``: 0-based stored-image pixels ``(x,
y)``, ``x`` along FITS axis 1; a cut-out pixel ``(u, v)`` is stored pixel ``(box.x0 + u,
box.y0 + v)``.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.coordinates import Angle
from astropy.io import fits

from extraction.core.plates import FieldBox, PlateGeometry, TpvSolution
from extraction.core.platestore import BoxRead
from extraction.core.surveys import COMPRESSIONS

#: Output compression levels, measured when chosen (no bench repeats it): 16-bit noisy plate
#: data barely compress, so higher levels cost several times the CPU for ~1 % smaller files.
GZIP_LEVEL = 1
BZIP2_LEVEL = 9  # bzip2's level only sets the block size; speed hardly changes with it
XZ_PRESET = 0

#: Each codec of ``surveys.COMPRESSIONS`` at the chosen level.
_CODECS: dict[str, Callable[[bytes], bytes]] = {
    "none": lambda data: data,
    "gzip": lambda data: gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0),
    "bzip2": lambda data: bz2.compress(data, compresslevel=BZIP2_LEVEL),
    "xz": lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, preset=XZ_PRESET),
}

ORIGIN = "dssportal"

ACKNOWLEDGEMENT = (
    "The Digitized Sky Surveys were produced at the Space Telescope Science",
    "Institute under U.S. Government grant NAG W-2166. The images of these",
    "surveys are based on photographic data obtained using the Oschin Schmidt",
    "Telescope on Palomar Mountain and the UK Schmidt Telescope. The plates",
    "were processed into the present compressed digital form with the",
    "permission of these institutions. Investigators using these scans are",
    "requested to include the above acknowledgements in any publications.",
)

#: Header cards of the plate that describe the stored file or another WCS, not the plate:
#: the cut-out writes its own.
_DROPPED = {
    "SIMPLE",
    "BITPIX",
    "NAXIS",
    "NAXIS1",
    "NAXIS2",
    "EXTEND",
    "BZERO",
    "BSCALE",
    "BLANK",
    "DATAMIN",
    "DATAMAX",
    "CHECKSUM",
    "DATASUM",
    "DATE",
    "ORIGIN",
    "OBJECT",
    "OBJCTRA",
    "OBJCTDEC",
    "OBJCTX",
    "OBJCTY",
    "CTYPE1",
    "CTYPE2",
    "CRPIX1",
    "CRPIX2",
    "CRVAL1",
    "CRVAL2",
    "CROTA1",
    "CROTA2",
    "CDELT1",
    "CDELT2",
    "CD1_1",
    "CD1_2",
    "CD2_1",
    "CD2_2",
    "PC1_1",
    "PC1_2",
    "PC2_1",
    "PC2_2",
    "PC001001",
    "PC001002",
    "PC002001",
    "PC002002",
    "SKEW",
    "RADESYS",
    "RADECSYS",
    "LONPOLE",
    "LATPOLE",
    "WCSAXES",
    "CUNIT1",
    "CUNIT2",
    "A_ORDER",
    "B_ORDER",
    "AP_ORDER",
    "BP_ORDER",
    "PCOUNT",
    "GCOUNT",
    "XTENSION",
    "EXTNAME",
}
_DROPPED_PREFIXES = (
    "A_",
    "B_",
    "AP_",
    "BP_",
    "Z",
    "TTYPE",
    "TFORM",
    "NAXIS",
    # Any WCS of the plate file, primary or alternate: the cut-out writes its own.
    "WCSNAME",
    "CTYPE",
    "CRPIX",
    "CRVAL",
    "CUNIT",
    "CDELT",
    "CROTA",
    "CD1_",
    "CD2_",
    "PC1_",
    "PC2_",
    "PV1_",
    "PV2_",
    "RADESYS",
    "EQUINOXA",
)


@dataclass(frozen=True)
class Cutout:
    """A cut-out ready to write.

    Attributes
    ----------
    data
        int16 pixels, numpy order ``(ny, nx)``; off-plate pixels hold ``BLANK``.
    cards
        The header as 80-character FITS card images, without END.
    clipped
        Part of the box lay off the stored image; those pixels hold BLANK.
    """

    data: npt.NDArray[np.int16]
    cards: tuple[str, ...]
    clipped: bool


def sexagesimal_ra(ra_deg: float) -> str:
    """``'hh mm ss.sss'`` for a right ascension in degrees (astropy ``Angle.to_string``).

    Rounded to the millisecond first and wrapped: astropy writes ``24 00 00.000`` for an R.A.
    that rounds up to a full day. About 20 us a call (1.4 us for plain arithmetic), a few
    ms for a page of plates: nothing that shows.
    """
    seconds = round((ra_deg % 360.0) / 15.0 * 3600.0, 3) % 86400.0
    angle = Angle(seconds / 3600.0, unit=u.hourangle)
    return str(angle.to_string(unit=u.hourangle, sep=" ", precision=3, pad=True))


def sexagesimal_dec(dec_deg: float) -> str:
    """``'+dd mm ss.ss'`` for a declination in degrees (astropy ``Angle.to_string``)."""
    angle = Angle(dec_deg + 0.0, unit=u.deg)  # + 0.0: no "-00 00 00.00" for -0.0
    return str(angle.to_string(unit=u.deg, sep=" ", precision=2, pad=True, alwayssign=True))


def _has_acknowledgement(cards: Iterable[str]) -> bool:
    text = " ".join(card[8:] for card in cards if card.startswith(("        ", "COMMENT ")))
    return "NAG W-2166" in text


_template_lock = threading.Lock()
_templates: OrderedDict[int, tuple[fits.Header, tuple[str, ...]]] = OrderedDict()


def plate_card_images(plate_header: fits.Header) -> tuple[str, ...]:
    """The plate's own cards to carry into every cut-out, as card images (cached per header).

    Building astropy ``Card`` objects costs tens of microseconds each, and a DSS header has
    about a hundred, so a long-lived worker formats them once per plate.
    """
    key = id(plate_header)
    with _template_lock:
        cached = _templates.get(key)
        if cached is not None and cached[0] is plate_header:
            _templates.move_to_end(key)
            return cached[1]
    images = []
    for card in plate_header.cards:
        keyword = card.keyword
        if keyword in _DROPPED or keyword.startswith(_DROPPED_PREFIXES):
            continue
        if not keyword and "CROTA" in str(card.value):
            continue  # a note about the plate's CROTA cards, which the cut-out does not carry
        image = card.image  # several 80-character blocks for a long (CONTINUE) string
        images += [image[i : i + 80].ljust(80) for i in range(0, len(image), 80)]
    result = tuple(images)
    with _template_lock:
        _templates[key] = (plate_header, result)
        while len(_templates) > 64:
            _templates.popitem(last=False)
    return result


def _value_text(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, int):
        return f"{value:>20d}"
    if isinstance(value, float):
        text = f"{value:.15G}"
        if "." not in text and "E" not in text:
            text += "."
        elif "." not in text:
            text = text.replace("E", ".E")
        return f"{text:>20}"
    printable = "".join(c if " " <= c <= "~" else "?" for c in value)  # FITS headers are ASCII
    quoted = "'" + printable.replace("'", "''").ljust(8) + "'"
    return f"{quoted:<20}"


def card_image(keyword: str, value: bool | int | float | str, comment: str = "") -> str:
    """One FITS header card (80 characters) for a keyword of at most 8 characters."""
    image = f"{keyword:<8}= {_value_text(value)}"
    if comment:
        image += f" / {comment}"
    return image[:80].ljust(80)


def comment_image(text: str) -> str:
    return f"COMMENT {text}"[:80].ljust(80)


#: Alternate-WCS letter of the standard WCS. The primary WCS is the DSS plate solution itself
#: (the DSS keywords, which WCSLIB reads exactly): a primary CTYPE/CD/PV or SIP set next to
#: them is merged with the plate solution by WCSLIB and astropy (WCSNAME "DSS PLATEID ...",
#: the plate centre as CRVAL, SIP terms on top), which put the corners of a 60' DSS1 field
#: 0.7" off. SIP has no alternate form, and TPV holds the DSS polynomial exactly.
STANDARD_WCS_KEY = "A"


def standard_wcs_cards(tpv: TpvSolution, cnpix1: int, cnpix2: int) -> list[str]:
    """The plate solution as alternate WCS ``A`` of an image whose corner on the plate is
    ``(CNPIX1, CNPIX2)``: standard keywords, TAN-TPV (``plates.TpvSolution``)."""
    crpix1, crpix2 = tpv.crpix(cnpix1, cnpix2)
    a = STANDARD_WCS_KEY
    fixed = _fixed_tpv_cards(tpv)
    return [
        *fixed[:3],
        card_image(f"CRPIX1{a}", crpix1, "Pixel coordinate of reference point"),
        card_image(f"CRPIX2{a}", crpix2, "Pixel coordinate of reference point"),
        *fixed[3:],
    ]


@functools.lru_cache(maxsize=64)
def _fixed_tpv_cards(tpv: TpvSolution) -> tuple[str, ...]:
    """The cards of WCS ``A`` that are the same for every cut-out of a plate, formatted
    once: three before CRPIX, the rest after."""
    a = STANDARD_WCS_KEY
    cards = [
        card_image(f"WCSNAME{a}", "DSS plate solution as TAN-TPV", "Name of WCS A"),
        card_image(f"CTYPE1{a}", "RA---TPV", "TAN projection with TPV distortion"),
        card_image(f"CTYPE2{a}", "DEC--TPV", "TAN projection with TPV distortion"),
        card_image(f"CRVAL1{a}", tpv.crval[0], "[deg] RA of the plate centre"),
        card_image(f"CRVAL2{a}", tpv.crval[1], "[deg] Dec of the plate centre"),
        card_image(f"CUNIT1{a}", "deg", "Units of CRVAL1A"),
        card_image(f"CUNIT2{a}", "deg", "Units of CRVAL2A"),
        card_image(f"CD1_1{a}", tpv.cd[0], "[deg/pixel] linear transformation"),
        card_image(f"CD1_2{a}", 0.0, "[deg/pixel] linear transformation"),
        card_image(f"CD2_1{a}", 0.0, "[deg/pixel] linear transformation"),
        card_image(f"CD2_2{a}", tpv.cd[1], "[deg/pixel] linear transformation"),
        card_image(f"RADESYS{a}", "FK5", "Equatorial coordinate system"),
        card_image(f"EQUINOX{a}", 2000.0, "[yr] Equinox of equatorial coordinates"),
    ]
    for axis, terms in ((1, tpv.pv1), (2, tpv.pv2)):
        cards += [card_image(f"PV{axis}_{k}{a}", v) for k, v in terms]
    return tuple(cards)


def cutout_build(
    *,
    geometry: PlateGeometry,
    plate_header: fits.Header,
    pixels: BoxRead,
    box: FieldBox,
    identifier: str,
    ra_deg: float,
    dec_deg: float,
    created: datetime | None = None,
) -> Cutout:
    """Assemble the cut-out HDU of ``box`` from the pixels read off the plate.

    Parameters
    ----------
    geometry
        The plate's geometry (its WCS reads the DSS plate solution).
    plate_header
        The stored plate's full header; its cards are carried over, CNPIX1/2 rewritten.
    pixels
        ``PlateReader.read_box`` of exactly ``box``; off-image pixels hold ``pixels.fill``.
    box
        The field's pixel box (0-based half-open stored-image pixels).
    identifier, ra_deg, dec_deg
        The field's identifier and requested centre (J2000 degrees), for OBJECT/OBJCT*.
    """
    if pixels.data.shape != box.shape:
        raise ValueError(f"pixels {pixels.data.shape} do not match the box {box.shape}")
    plate_cards = plate_card_images(plate_header)
    cnpix1, cnpix2 = box.cnpix
    clipped = not pixels.complete
    obj_x, obj_y = geometry.sky_to_pixel(ra_deg, dec_deg)
    plate_x, plate_y = geometry.pixel_to_plate(obj_x, obj_y)
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    ny, nx = pixels.data.shape
    cards = [
        card_image("SIMPLE", True, "conforms to FITS standard"),
        card_image("BITPIX", 16, "array data type"),
        card_image("NAXIS", 2, "number of array dimensions"),
        card_image("NAXIS1", nx),
        card_image("NAXIS2", ny),
        card_image("DATE", stamp, "Date of FITS file creation (UTC)"),
        card_image("ORIGIN", ORIGIN, "Origin of FITS image"),
    ]
    cards += [c for c in plate_cards if not c.startswith(("CNPIX1  =", "CNPIX2  ="))]
    cards += [
        card_image("CNPIX1", int(cnpix1), "X corner (pixels)"),
        card_image("CNPIX2", int(cnpix2), "Y corner"),
        card_image("OBJECT", identifier[:68], "Object ID"),
        card_image("OBJCTRA", sexagesimal_ra(ra_deg), "Object Right Ascension (J2000)"),
        card_image("OBJCTDEC", sexagesimal_dec(dec_deg), "Object Declination (J2000)"),
        card_image("OBJCTX", round(float(plate_x), 2), "Object X on plate (pixels)"),
        card_image("OBJCTY", round(float(plate_y), 2), "Object Y on plate (pixels)"),
    ]
    cards += standard_wcs_cards(geometry.tpv, int(cnpix1), int(cnpix2))
    if clipped:
        cards.append(card_image("BLANK", int(pixels.fill), "Value of pixels off the plate"))
        cards.append(card_image("CLIPPED", True, "Part of the field lies off the plate"))
    valid = pixels.data[pixels.valid] if clipped else pixels.data
    if valid.size:
        cards.append(card_image("DATAMIN", int(valid.min()), "Minimum data value"))
        cards.append(card_image("DATAMAX", int(valid.max()), "Maximum data value"))
    if not _has_acknowledgement(plate_cards):
        cards += [comment_image(line) for line in ACKNOWLEDGEMENT]
    return Cutout(data=pixels.data, cards=tuple(cards), clipped=clipped)


def fits_bytes(cutout: Cutout) -> bytes:
    """The cut-out as a FITS file: header and big-endian 16-bit data, each padded to 2880."""
    header = "".join(cutout.cards) + "END".ljust(80)
    header += " " * (-len(header) % 2880)
    data = np.ascontiguousarray(cutout.data, dtype=">i2").tobytes()
    return header.encode("ascii") + data + b"\0" * (-len(data) % 2880)


def compress(data: bytes, compression: str) -> bytes:
    """Compress FITS bytes for ``compression`` ``U``/``G``/``B``/``X`` at the chosen levels."""
    entry = COMPRESSIONS.get(compression)
    if entry is None:
        raise ValueError(f"unknown compression {compression!r}; use {', '.join(COMPRESSIONS)}")
    return _CODECS[entry.codec](data)


#: The inverse of each codec, for reading a staged file back (its quick-look).
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "none": lambda data: data,
    "gzip": gzip.decompress,
    "bzip2": bz2.decompress,
    "xz": lzma.decompress,
}


def decompress(data: bytes, compression: str) -> bytes:
    """The FITS bytes of a file written by :func:`compress` with ``compression``."""
    return _DECODERS[COMPRESSIONS[compression].codec](data)
