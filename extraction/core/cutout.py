"""The FITS cut-out: pixels of a plate box under a DSS header plus a standard celestial WCS.

Pure numpy/astropy; no Django.

The output keeps the conventions of STScI's DSS cut-outs: BITPIX 16, the plate's own header
cards (plate solution PLTRAH..., PPO1-6, AMDX/AMDY, XPIXELSZ...) with CNPIX1/CNPIX2 set to the
cut-out's first pixel on the full plate, OBJECT/OBJCTRA/OBJCTDEC/OBJCTX/OBJCTY, the DSS
acknowledgement, and a standard TAN (with SIP distortion) WCS fitted to the plate solution so
that software that does not read DSS plate solutions still places every pixel within 0.1".

Pixel conventions are those of ``extraction.core.plates``: 0-based stored-image pixels ``(x,
y)``, ``x`` along FITS axis 1; a cut-out pixel ``(u, v)`` is stored pixel ``(box.x0 + u,
box.y0 + v)``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS, Sip

from extraction.core.plates import FieldBox, PlateGeometry
from extraction.core.platestore import BoxRead
from extraction.core.sky import angular_distance_deg, gnomonic_project_deg
from extraction.core.surveys import COMPRESSIONS

#: Output compression levels, chosen by measurement (bench/bench_cutout.py): 16-bit noisy plate
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

#: Largest allowed disagreement between the fitted standard WCS and the plate solution.
WCS_TOLERANCE_ARCSEC = 0.1

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
_DROPPED_PREFIXES = ("A_", "B_", "AP_", "BP_", "Z", "TTYPE", "TFORM", "NAXIS")


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
    wcs_error_arcsec
        Largest disagreement between the fitted TAN-SIP WCS and the plate solution over the
        cut-out, measured on a grid that includes the corners.
    """

    data: npt.NDArray[np.int16]
    cards: tuple[str, ...]
    clipped: bool
    wcs_error_arcsec: float


def sexagesimal_ra(ra_deg: float) -> str:
    """``'hh mm ss.sss'`` for a right ascension in degrees."""
    total = round((ra_deg % 360.0) / 15.0 * 3600.0, 3) % 86400.0
    hours, rest = divmod(total, 3600.0)
    minutes, seconds = divmod(rest, 60.0)
    return f"{int(hours):02d} {int(minutes):02d} {seconds:06.3f}"


def sexagesimal_dec(dec_deg: float) -> str:
    """``'+dd mm ss.ss'`` for a declination in degrees."""
    sign = "-" if dec_deg < 0 else "+"
    total = round(abs(dec_deg) * 3600.0, 2)
    degrees, rest = divmod(total, 3600.0)
    minutes, seconds = divmod(rest, 60.0)
    return f"{sign}{int(degrees):02d} {int(minutes):02d} {seconds:05.2f}"


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


def _poly_terms(
    u: npt.NDArray[np.float64], v: npt.NDArray[np.float64], orders: range
) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]]]:
    powers = [(p, n - p) for n in orders for p in range(n, -1, -1)]
    return np.stack([u**p * v**q for p, q in powers], axis=1), powers


def fit_tan_sip(
    geometry: PlateGeometry, box: FieldBox, *, degree: int = 3, samples: int = 15
) -> WCS:
    """A TAN-SIP WCS for the cut-out ``box`` fitted to the plate solution.

    The reference pixel is the cut-out centre (FITS 1-based ``((nx + 1) / 2, (ny + 1) / 2)``)
    and the reference value the plate solution's sky position there. The forward polynomial
    (pixel offsets -> standard coordinates) and its inverse are least-squares fits on a
    ``samples`` x ``samples`` grid spanning the whole cut-out, corners included.
    """
    crpix = ((box.nx + 1) / 2.0, (box.ny + 1) / 2.0)
    ra0, dec0 = geometry.pixel_to_sky(box.x0 + crpix[0] - 1.0, box.y0 + crpix[1] - 1.0)
    grid = np.linspace(0.0, 1.0, samples)
    gu, gv = np.meshgrid(grid * max(box.nx - 1, 1), grid * max(box.ny - 1, 1))
    u, v = gu.ravel(), gv.ravel()
    ra, dec = geometry.pixel_to_sky(box.x0 + u, box.y0 + v)
    xi, eta = gnomonic_project_deg(ra, dec, float(ra0), float(dec0))
    du, dv = u + 1.0 - crpix[0], v + 1.0 - crpix[1]

    # Scale offsets to ~1 so the normal equations stay well conditioned.
    norm = max(box.nx, box.ny, 2) / 2.0
    design, powers = _poly_terms(du / norm, dv / norm, range(1, degree + 1))
    coef_xi = np.linalg.lstsq(design, xi, rcond=None)[0]
    coef_eta = np.linalg.lstsq(design, eta, rcond=None)[0]
    # powers[0] = (1, 0) is the u term, powers[1] = (0, 1) the v term.
    cd = np.array([[coef_xi[0], coef_xi[1]], [coef_eta[0], coef_eta[1]]]) / norm
    cd_inv = np.linalg.inv(cd)

    a = np.zeros((degree + 1, degree + 1))
    b = np.zeros((degree + 1, degree + 1))
    for index, (p, q) in enumerate(powers):
        if p + q < 2:
            continue
        scale = norm ** (p + q)
        corr_u, corr_v = cd_inv @ np.array([coef_xi[index], coef_eta[index]])
        a[p, q], b[p, q] = corr_u / scale, corr_v / scale

    # Inverse: intermediate pixel offsets (U, V) = CD^-1 (xi, eta) -> true offsets.
    big_u, big_v = cd_inv @ np.vstack([xi, eta])
    inv_design, inv_powers = _poly_terms(big_u / norm, big_v / norm, range(1, degree + 1))
    coef_u = np.linalg.lstsq(inv_design, du - big_u, rcond=None)[0]
    coef_v = np.linalg.lstsq(inv_design, dv - big_v, rcond=None)[0]
    ap = np.zeros((degree + 1, degree + 1))
    bp = np.zeros((degree + 1, degree + 1))
    for index, (p, q) in enumerate(inv_powers):
        scale = norm ** (p + q)
        ap[p, q], bp[p, q] = coef_u[index] / scale, coef_v[index] / scale

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.wcs.crpix = crpix
    wcs.wcs.crval = [float(ra0) % 360.0, float(dec0)]
    wcs.wcs.cd = cd
    wcs.wcs.radesys = "FK5"
    wcs.wcs.equinox = 2000.0
    wcs.sip = Sip(a, b, ap, bp, crpix)
    wcs.wcs.set()
    return wcs


def wcs_error_arcsec(geometry: PlateGeometry, box: FieldBox, wcs: WCS, samples: int = 21) -> float:
    """Largest angular difference (arcsec) between ``wcs`` and the plate solution over the box."""
    grid = np.linspace(0.0, 1.0, samples)
    gu, gv = np.meshgrid(grid * max(box.nx - 1, 1), grid * max(box.ny - 1, 1))
    u, v = gu.ravel(), gv.ravel()
    ra_plate, dec_plate = geometry.pixel_to_sky(box.x0 + u, box.y0 + v)
    ra_fit, dec_fit = wcs.all_pix2world(u, v, 0)
    return float(np.max(angular_distance_deg(ra_plate, dec_plate, ra_fit, dec_fit)) * 3600.0)


def _standard_wcs(geometry: PlateGeometry, box: FieldBox) -> tuple[WCS, float]:
    """The lowest-degree TAN-SIP fit within tolerance (degree 3, else up to 5)."""
    best: tuple[WCS, float] | None = None
    for degree in (3, 4, 5):
        wcs = fit_tan_sip(geometry, box, degree=degree)
        error = wcs_error_arcsec(geometry, box, wcs)
        if best is None or error < best[1]:
            best = (wcs, error)
        if error <= WCS_TOLERANCE_ARCSEC / 4:
            break
    assert best is not None
    return best


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
    wcs, error = _standard_wcs(geometry, box)
    cards += _wcs_cards(wcs)
    cards.append(card_image("WCSERR", round(error, 4), "[arcsec] max TAN-SIP vs plate solution"))
    if clipped:
        cards.append(card_image("BLANK", int(pixels.fill), "Value of pixels off the plate"))
        cards.append(card_image("CLIPPED", True, "Part of the field lies off the plate"))
    valid = pixels.data[pixels.valid] if clipped else pixels.data
    if valid.size:
        cards.append(card_image("DATAMIN", int(valid.min()), "Minimum data value"))
        cards.append(card_image("DATAMAX", int(valid.max()), "Maximum data value"))
    if not _has_acknowledgement(plate_cards):
        cards += [comment_image(line) for line in ACKNOWLEDGEMENT]
    return Cutout(data=pixels.data, cards=tuple(cards), clipped=clipped, wcs_error_arcsec=error)


def _wcs_cards(wcs: WCS) -> list[str]:
    """The fitted TAN-SIP WCS as cards (the standard keywords, SIP convention)."""
    cd = wcs.wcs.cd
    cards = [
        card_image("WCSAXES", 2, "Number of coordinate axes"),
        card_image("CTYPE1", "RA---TAN-SIP", "TAN projection with SIP distortion"),
        card_image("CTYPE2", "DEC--TAN-SIP", "TAN projection with SIP distortion"),
        card_image("CRPIX1", float(wcs.wcs.crpix[0]), "Pixel coordinate of reference point"),
        card_image("CRPIX2", float(wcs.wcs.crpix[1]), "Pixel coordinate of reference point"),
        card_image("CRVAL1", float(wcs.wcs.crval[0]), "[deg] RA at reference point"),
        card_image("CRVAL2", float(wcs.wcs.crval[1]), "[deg] Dec at reference point"),
        card_image("CD1_1", float(cd[0, 0]), "[deg/pixel] linear transformation"),
        card_image("CD1_2", float(cd[0, 1]), "[deg/pixel] linear transformation"),
        card_image("CD2_1", float(cd[1, 0]), "[deg/pixel] linear transformation"),
        card_image("CD2_2", float(cd[1, 1]), "[deg/pixel] linear transformation"),
        card_image("RADESYS", "FK5", "Equatorial coordinate system"),
        card_image("EQUINOX", 2000.0, "[yr] Equinox of equatorial coordinates"),
    ]
    sip = wcs.sip
    for name, matrix, lowest in (
        ("A", sip.a, 2),
        ("B", sip.b, 2),
        ("AP", sip.ap, 1),
        ("BP", sip.bp, 1),
    ):
        order = matrix.shape[0] - 1
        cards.append(card_image(f"{name}_ORDER", order, "SIP polynomial order"))
        for p in range(order + 1):
            for q in range(order + 1 - p):
                if p + q >= lowest and matrix[p, q] != 0.0:
                    cards.append(card_image(f"{name}_{p}_{q}", float(matrix[p, q])))
    return cards


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


def write_atomically(final: Path, data: bytes, *, scratch: Path) -> int:
    """Write ``data`` to ``final`` through a temporary file in ``scratch``, then rename.

    ``scratch`` must be on the same filesystem as ``final`` and outside anything FTP or HTTP
    serves, so that a half-written file is never visible; a worker killed mid-write leaves
    only an orphan in ``scratch``. Returns the number of bytes written.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    temp = scratch / f"{final.name}.{secrets.token_hex(6)}.part"
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return len(data)
