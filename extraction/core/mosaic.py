"""Mosaics (mode ``m``): one image of a field built from every plate that covers part of it.

Pure numpy/astropy/reproject; no Django.

The output grid is a TAN projection centred on the field, north up and east left, at the
survey's native pixel scale (:func:`mosaic_grid`). Each output pixel comes from the plate on
which it lies farthest from the edge of the scanned area (the distance in plate pixels to the
nearest side of the digitized area), resampled from that plate by ``reproject.reproject_interp``
(bilinear) through the plate's own DSS solution. One additive offset per plate, solved from
the median differences where plates overlap (:func:`solve_offsets`), is subtracted so that
the seams between plates vanish. Pixels no plate covers are BLANK.

Order of work (:func:`mosaic_build`): the choice of plate needs geometry only (edge distances
from plate coordinates computed exactly on a coarse lattice of nodes and interpolated); the
offsets come from every plate resampled on a sparse lattice of the grid; then the grid is made
in strips of rows, each plate resampled only on the rectangle of the pixels it was chosen
for, reading only its box under that rectangle (``PlateSource.read_box``), never a whole
plate. Each grid pixel is thus resampled about once whatever the number of plates, and memory
stays bounded by a strip.

Pixel conventions are those of ``extraction.core.plates``: 0-based stored-image pixels
``(x, y)``, ``x`` along FITS axis 1. Output pixels ``(u, v)`` likewise (``u`` a column).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS
from reproject import reproject_interp

from extraction.core.cutout import ACKNOWLEDGEMENT, ORIGIN, sexagesimal_dec, sexagesimal_ra
from extraction.core.plates import PlateGeometry, dss_solution_header
from extraction.core.platestore import PlateSource
from extraction.core.surveys import SURVEYS

FloatArray = npt.NDArray[np.float64]

#: Header blocks (2880 bytes) the quota counts for each HDU: the primary header holds about
#: 40 cards plus 4 per plate, so 8 blocks serve up to 60 plates.
MOSAIC_HEADER_BLOCKS = 8
#: Value of output pixels that no plate covers (int16 image, DSS convention).
MOSAIC_BLANK = -32768
#: Rows of the output grid made at once: bounds memory (the edge distances of a 60' DSS2
#: strip on four plates take 30 MB) while plate tiles (500 rows) are read about twice.
STRIP_ROWS = 512
#: Output pixels between the nodes where plate coordinates are computed exactly; between
#: nodes they are interpolated bilinearly (5e-6 px off on the test plates; tested < 1e-3).
COORD_STEP = 16
#: Pixels read beyond the part of a plate a strip needs, for the bilinear kernel.
_READ_MARGIN = 3
#: Grid pixels (about) of the sparse lattice the offsets are measured on.
_PAIR_SAMPLES = 200_000
#: Offsets of plates that overlap nothing are pulled to 0 with this (tiny) weight.
_OFFSET_PRIOR_WEIGHT = 1e-6

MOSAIC_COMMENTS = (
    "This image is resampled and mosaicked, not a plate cut-out: each pixel is",
    "resampled (bilinear, reproject) from the plate PLATEn named in the PLATEMAP",
    "extension, where it lies farthest from the edge of the scanned area, minus",
    "that plate's additive offset OFFSETn (solved so that the seams vanish).",
    "The plates were exposed at different epochs (EPOCHn): moving and variable",
    "objects differ across seams. Photometry is not calibrated.",
)


class MosaicError(ValueError):
    """A mosaic that cannot be built (no plate, too many plates)."""


@dataclass(frozen=True)
class MosaicPlate:
    """One plate offered to a mosaic: its pixels, its geometry and what the header names."""

    plate_id: str
    region: str
    epoch: float | None
    source: PlateSource
    geometry: PlateGeometry


@dataclass(frozen=True)
class MosaicGrid:
    """The output grid: a north-up TAN WCS and its shape ``(ny, nx)``."""

    wcs: WCS
    shape: tuple[int, int]
    scale_arcsec: float

    @property
    def nx(self) -> int:
        return self.shape[1]

    @property
    def ny(self) -> int:
        return self.shape[0]


@dataclass(frozen=True)
class Mosaic:
    """A built mosaic.

    Attributes
    ----------
    data
        int16 pixels ``(ny, nx)``; ``MOSAIC_BLANK`` where no plate covers.
    platemap
        uint8 ``(ny, nx)``: 1-based index into ``plates`` of the plate each pixel came from,
        0 where none.
    plates
        The plates used (at least one pixel each), in PLATEn order.
    offsets
        The additive offset subtracted from each used plate, ADU, in the same order.
    pixels
        Output pixels taken from each used plate.
    """

    grid: MosaicGrid
    data: npt.NDArray[np.int16]
    platemap: npt.NDArray[np.uint8]
    plates: tuple[MosaicPlate, ...]
    offsets: tuple[float, ...]
    pixels: tuple[int, ...]

    @property
    def blank_fraction(self) -> float:
        """Fraction of the output no plate covers."""
        return float(np.mean(self.platemap == 0))


# -- The grid ---------------------------------------------------------------------------


def mosaic_grid(
    ra_deg: float, dec_deg: float, width_arcmin: float, height_arcmin: float, survey: str
) -> MosaicGrid:
    """A TAN grid centred on (RA, Dec), north up, east left, at the survey's native pixel
    scale (``Survey.pixel_scale_arcsec``: 1.699" DSS1, 1.008" DSS2).

    ``round(width * 60 / scale)`` x ``round(height * 60 / scale)`` pixels (at least 1); the
    field centre is the grid's centre, FITS pixel ``((nx + 1) / 2, (ny + 1) / 2)``.
    """
    scale_arcsec = SURVEYS[survey].pixel_scale_arcsec
    ny, nx = grid_shape(survey, width_arcmin, height_arcmin)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    wcs.wcs.crval = [ra_deg % 360.0, dec_deg]
    wcs.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "FK5"
    wcs.wcs.equinox = 2000.0
    wcs.wcs.set()
    wcs.pixel_shape = (nx, ny)
    return MosaicGrid(wcs, (ny, nx), scale_arcsec)


# -- Plate coordinates and edge distances -------------------------------------------------


def _nodes(n: int, step: int) -> npt.NDArray[np.intp]:
    return np.unique(np.append(np.arange(0, n, step), n - 1))


class PlateCoordinates:
    """Plate pixel coordinates of every output pixel, exact at nodes every ``step`` pixels
    and bilinear between them.

    The plate solution is evaluated on the nodes only (a few thousand points per plate
    instead of millions); :meth:`rows` fills in whole rows of the grid.
    """

    def __init__(self, grid: MosaicGrid, geometry: PlateGeometry, step: int = COORD_STEP):
        self._cols = _nodes(grid.nx, step)
        self._rows = _nodes(grid.ny, step)
        cu, cv = np.meshgrid(self._cols, self._rows)
        ra, dec = grid.wcs.wcs_pix2world(cu, cv, 0)
        x_nodes, y_nodes = geometry.sky_to_pixel(ra, dec)
        every_col = np.arange(grid.nx)
        # Along x once for all node rows: (node rows, nx) each.
        self._x = np.array([np.interp(every_col, self._cols, row) for row in x_nodes])
        self._y = np.array([np.interp(every_col, self._cols, row) for row in y_nodes])

    def rows(self, v0: int, v1: int) -> tuple[FloatArray, FloatArray]:
        """Plate ``(x, y)`` of output rows ``v0 <= v < v1``, each ``(v1 - v0, nx)``."""
        return self.rows_at(np.arange(v0, v1))

    def rows_at(self, rows: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        """Plate ``(x, y)`` of the given output rows, each ``(len(rows), nx)``."""
        v = np.asarray(rows, dtype=float)
        k = np.clip(np.searchsorted(self._rows, v, side="right") - 1, 0, len(self._rows) - 2)
        if len(self._rows) == 1:
            return self._x[np.zeros(len(v), dtype=int)], self._y[np.zeros(len(v), dtype=int)]
        r0, r1 = self._rows[k], self._rows[k + 1]
        w = ((v - r0) / (r1 - r0))[:, None]
        x = self._x[k] * (1.0 - w) + self._x[k + 1] * w
        y = self._y[k] * (1.0 - w) + self._y[k + 1] * w
        return x, y


def edge_distance(
    geometry: PlateGeometry, x: npt.ArrayLike, y: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Distance (plate pixels) from stored-image pixel ``(x, y)`` to the nearest edge of the
    scanned area; negative off it, NaN where the plate cannot see the position.

    The area spans ``[x0 - 0.5, x1 - 0.5)`` in ``x`` (pixel ``k`` covers ``k +- 0.5``).
    """
    area = geometry.area_box()
    x_arr, y_arr = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return np.minimum.reduce(
        [
            x_arr - (area.x0 - 0.5),
            (area.x1 - 0.5) - x_arr,
            y_arr - (area.y0 - 0.5),
            (area.y1 - 0.5) - y_arr,
        ]
    )


def farthest_from_edge(distances: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """Per pixel, the 1-based index of the plate with the largest positive distance (0: none).

    ``distances`` is ``(plates, ...)``; NaN or <= 0 means the plate does not cover the pixel.
    Ties go to the lower index.
    """
    if len(distances) == 0:
        return np.zeros((), dtype=np.uint8)
    covered = np.nan_to_num(distances, nan=-np.inf)
    best = np.argmax(covered, axis=0)
    best_distance = np.take_along_axis(covered, best[None], axis=0)[0]
    return np.where(best_distance > 0, best + 1, 0).astype(np.uint8)


# -- Offsets ----------------------------------------------------------------------------


def solve_offsets(
    n_plates: int, pair_medians: dict[tuple[int, int], tuple[float, int]]
) -> npt.NDArray[np.float64]:
    """Additive offsets ``o`` (one per plate) with ``o_i - o_j ~ median(a_i - a_j)``.

    ``pair_medians[(i, j)] = (median of plate i minus plate j over their overlap, number of
    pixels)``. Least squares weighted by the square root of the overlap, with the offsets'
    mean fixed at 0 so that the mosaic keeps the plates' overall level; a plate overlapping
    no other gets 0.
    """
    rows, rhs = [], []
    for (i, j), (median, count) in sorted(pair_medians.items()):
        weight = math.sqrt(count)
        row = np.zeros(n_plates)
        row[i], row[j] = weight, -weight
        rows.append(row)
        rhs.append(weight * median)
    rows.append(np.ones(n_plates) * max(1.0, math.sqrt(sum(c for _, c in pair_medians.values()))))
    rhs.append(0.0)
    for i in range(n_plates):
        row = np.zeros(n_plates)
        row[i] = _OFFSET_PRIOR_WEIGHT
        rows.append(row)
        rhs.append(0.0)
    solution, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return np.asarray(solution, dtype=float)


def _pair_medians(
    values: dict[int, npt.NDArray[np.float32]], weight: int
) -> dict[tuple[int, int], tuple[float, int]]:
    """Median difference of every pair of plates where both have a value, and the number of
    grid pixels that overlap stands for (``weight`` per sample)."""
    out = {}
    for i in sorted(values):
        for j in sorted(values):
            if j > i:
                both = np.isfinite(values[i]) & np.isfinite(values[j])
                if both.any():
                    difference = values[i][both] - values[j][both]
                    out[(i, j)] = (float(np.median(difference)), int(both.sum()) * weight)
    return out


# -- Building ---------------------------------------------------------------------------


def plate_box_wcs(geometry: PlateGeometry, x0: int, x1: int, y0: int, y1: int) -> WCS:
    """The DSS plate solution of the stored-image box ``[y0:y1, x0:x1]`` as an astropy WCS
    (the plate's solution with CNPIX1/2 moved to the box's first pixel)."""
    header = dss_solution_header(geometry.solution_header)
    header["NAXIS1"], header["NAXIS2"] = x1 - x0, y1 - y0
    header["CNPIX1"] = geometry.origin_x + x0
    header["CNPIX2"] = geometry.origin_y + y0
    wcs = WCS(header)
    wcs.wcs.set()
    return wcs


def _sub_wcs(grid: MosaicGrid, u0: int, v0: int, shape: tuple[int, int], step: int = 1) -> WCS:
    """The grid's WCS for the pixels ``(u0 + step * j, v0 + step * i)``, ``shape`` of them."""
    wcs = grid.wcs.deepcopy()
    crpix1, crpix2 = grid.wcs.wcs.crpix
    # Sub-grid pixel j (1-based j + 1) is grid pixel u0 + step * j: the same intermediate
    # coordinate when CRPIX' = 1 - (u0 + 1 - CRPIX) / step and CDELT' = step * CDELT.
    wcs.wcs.crpix = [1.0 - (u0 + 1.0 - crpix1) / step, 1.0 - (v0 + 1.0 - crpix2) / step]
    wcs.wcs.cdelt = [c * step for c in grid.wcs.wcs.cdelt]
    wcs.wcs.set()
    wcs.pixel_shape = (shape[1], shape[0])
    return wcs


def _read_box_for(
    plate: MosaicPlate, x: FloatArray, y: FloatArray, needed: npt.NDArray[np.bool_]
) -> tuple[int, int, int, int] | None:
    """The stored-image box holding the ``needed`` plate positions ``(x, y)`` with a margin
    for the bilinear kernel, clipped to the image; None when it misses the image."""
    if not needed.any():
        return None
    ny, nx = plate.source.shape
    x0 = max(0, math.floor(float(x[needed].min())) - _READ_MARGIN)
    x1 = min(nx, math.ceil(float(x[needed].max())) + _READ_MARGIN + 1)
    y0 = max(0, math.floor(float(y[needed].min())) - _READ_MARGIN)
    y1 = min(ny, math.ceil(float(y[needed].max())) + _READ_MARGIN + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, x1, y0, y1


def plate_box_of_grid(grid: MosaicGrid, plate: MosaicPlate) -> tuple[int, int, int, int] | None:
    """The stored-image box ``(x0, x1, y0, y1)`` of the plate under the part of the whole grid
    it covers (what a one-shot resampling of the plate onto the grid would read)."""
    x, y = PlateCoordinates(grid, plate.geometry).rows(0, grid.ny)
    covered = np.nan_to_num(edge_distance(plate.geometry, x, y), nan=-1.0) > 0
    return _read_box_for(plate, x, y, covered)


def resample_box(
    plate: MosaicPlate, box: tuple[int, int, int, int], out_wcs: WCS, shape: tuple[int, int]
) -> npt.NDArray[np.float32]:
    """``reproject_interp`` (bilinear) of a stored-image box of a plate onto ``out_wcs``;
    NaN where the box does not reach. Pixels the plate leaves blank are NaN too."""
    x0, x1, y0, y1 = box
    read = plate.source.read_box(x0, x1, y0, y1)
    data = read.data.astype(np.float32)
    data[(read.data == read.fill) | ~read.valid] = np.nan
    values = reproject_interp(
        (data, plate_box_wcs(plate.geometry, x0, x1, y0, y1)),
        out_wcs,
        shape_out=shape,
        order="bilinear",
        roundtrip_coords=False,
        return_footprint=False,
    )
    return np.asarray(values, dtype=np.float32)


def _resampled_where(
    plate: MosaicPlate,
    grid: MosaicGrid,
    xy: tuple[FloatArray, FloatArray],
    wanted: npt.NDArray[np.bool_],
    corner: tuple[int, int],
    step: int = 1,
) -> npt.NDArray[np.float32] | None:
    """The plate resampled on the bounding rectangle of ``wanted`` (a mask over a block of
    the grid whose first pixel is ``corner = (u0, v0)``, pixels ``step`` apart), NaN
    elsewhere in the block; None when the plate has nothing there."""
    rows, cols = np.flatnonzero(wanted.any(axis=1)), np.flatnonzero(wanted.any(axis=0))
    if rows.size == 0:
        return None
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    x, y = xy[0][r0:r1, c0:c1], xy[1][r0:r1, c0:c1]
    box = _read_box_for(plate, x, y, wanted[r0:r1, c0:c1])
    if box is None:
        return None
    u0, v0 = corner[0] + step * int(c0), corner[1] + step * int(r0)
    out_wcs = _sub_wcs(grid, u0, v0, (int(r1 - r0), int(c1 - c0)), step)
    block = np.full(wanted.shape, np.nan, dtype=np.float32)
    block[r0:r1, c0:c1] = resample_box(plate, box, out_wcs, (int(r1 - r0), int(c1 - c0)))
    block[~wanted] = np.nan
    return block


def _offsets(
    grid: MosaicGrid, plates: Sequence[MosaicPlate], coords: Sequence[PlateCoordinates]
) -> FloatArray:
    """Each plate's additive offset, from the plates resampled on a sparse lattice of the
    grid (about ``_PAIR_SAMPLES`` pixels, every plate wherever it covers)."""
    step = max(1, int(math.sqrt(grid.nx * grid.ny / _PAIR_SAMPLES)))
    rows = np.arange(0, grid.ny, step)
    values = {}
    for i, (plate, coord) in enumerate(zip(plates, coords, strict=True)):
        x, y = coord.rows_at(rows)
        x, y = x[:, ::step], y[:, ::step]
        covered = np.nan_to_num(edge_distance(plate.geometry, x, y), nan=-1.0) > 0
        block = _resampled_where(plate, grid, (x, y), covered, (0, 0), step)
        if block is not None:
            values[i] = block
    return solve_offsets(len(plates), _pair_medians(values, step * step))


def mosaic_build(
    grid: MosaicGrid, plates: Sequence[MosaicPlate], *, strip_rows: int = STRIP_ROWS
) -> Mosaic:
    """Choose each pixel's plate, match the plates' backgrounds, resample: the mosaic.

    The choice needs only geometry (edge distances), and the offsets come from a sparse
    lattice of the grid first; then, strip by strip, each plate is resampled only on the
    rectangle of the pixels it was chosen for, and written as int16 with its offset taken
    off. So each grid pixel is resampled about once, whatever the number of plates.

    Raises
    ------
    MosaicError
        Without plates, with more than 255 (PLATEMAP is 8-bit), or when none covers a pixel.
    """
    if not plates:
        raise MosaicError("no plate to build the mosaic from")
    if len(plates) > 255:
        raise MosaicError(f"{len(plates)} plates: a mosaic takes at most 255")
    coords = [PlateCoordinates(grid, p.geometry) for p in plates]
    offsets_all = _offsets(grid, plates, coords)
    data = np.full(grid.shape, MOSAIC_BLANK, dtype=np.int16)
    choice = np.zeros(grid.shape, dtype=np.uint8)
    for v0 in range(0, grid.ny, strip_rows):
        v1 = min(grid.ny, v0 + strip_rows)
        distances = np.array(
            [
                edge_distance(p.geometry, *c.rows(v0, v1))
                for p, c in zip(plates, coords, strict=True)
            ],
            dtype=np.float32,
        )
        strip_choice = farthest_from_edge(distances)
        del distances
        for i, plate in enumerate(plates):
            mine = strip_choice == i + 1
            if not mine.any():
                continue
            # Interpolated again rather than kept: one plate's coordinates at a time in memory.
            xy = coords[i].rows(v0, v1)
            block = _resampled_where(plate, grid, xy, mine, (0, v0))
            if block is None:
                continue
            here = np.isfinite(block)
            data[v0:v1][here] = _to_int16(block[here] - offsets_all[i])
            # A pixel the plate leaves blank (NaN) stays BLANK, with no plate in the map.
            strip_choice[(strip_choice == i + 1) & ~here] = 0
        choice[v0:v1] = strip_choice
    return _assembled(grid, plates, data, choice, offsets_all)


def _to_int16(values: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    return np.clip(np.rint(values), MOSAIC_BLANK + 1, 32767).astype(np.int16)


def _assembled(
    grid: MosaicGrid,
    plates: Sequence[MosaicPlate],
    data: npt.NDArray[np.int16],
    choice: npt.NDArray[np.uint8],
    offsets_all: FloatArray,
) -> Mosaic:
    """Renumber the plates used 1..N (in the order given) and keep only theirs."""
    counts = np.bincount(choice.ravel(), minlength=len(plates) + 1)
    used = [i for i in range(len(plates)) if counts[i + 1] > 0]
    if not used:
        raise MosaicError("no plate covers any part of the field")
    renumber = np.zeros(len(plates) + 1, dtype=np.uint8)
    renumber[[i + 1 for i in used]] = np.arange(1, len(used) + 1, dtype=np.uint8)
    return Mosaic(
        grid=grid,
        data=data,
        platemap=renumber[choice],
        plates=tuple(plates[i] for i in used),
        offsets=tuple(float(offsets_all[i]) for i in used),
        pixels=tuple(int(counts[i + 1]) for i in used),
    )


# -- FITS -------------------------------------------------------------------------------


def mosaic_header(
    mosaic: Mosaic,
    *,
    identifier: str,
    ra_deg: float,
    dec_deg: float,
    survey: str,
    created: datetime | None = None,
) -> fits.Header:
    """The primary header: a standard TAN WCS, the plates used, and what the image is.

    No DSS plate-solution keyword (PLTRAH, AMDX, CNPIX ...): the image is no plate cut-out.
    """
    header = mosaic.grid.wcs.to_header()
    for key in ("MJDREF", "DATEREF", "MJD-OBS", "DATE-OBS", "LONPOLE", "LATPOLE"):
        header.remove(key, ignore_missing=True)
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    header["BLANK"] = (MOSAIC_BLANK, "Value of pixels no plate covers")
    header["DATE"] = (stamp, "Date of FITS file creation (UTC)")
    header["ORIGIN"] = (ORIGIN, "Origin of FITS image")
    header["OBJECT"] = (identifier[:68], "Object ID")
    header["OBJCTRA"] = (sexagesimal_ra(ra_deg), "Object Right Ascension (J2000)")
    header["OBJCTDEC"] = (sexagesimal_dec(dec_deg), "Object Declination (J2000)")
    header["SURVEY"] = (survey, "Survey and band of the plates")
    header["MOSAIC"] = (True, "Resampled mosaic of several plates")
    header["PIXSCALE"] = (round(mosaic.grid.scale_arcsec, 6), "[arcsec/pixel] grid scale")
    header["NPLATES"] = (len(mosaic.plates), "Plates the image is made of")
    for n, (plate, offset) in enumerate(zip(mosaic.plates, mosaic.offsets, strict=True), 1):
        header[f"PLATE{n}"] = (plate.plate_id, f"Plate id of PLATEMAP value {n}")
        header[f"REGION{n}"] = (plate.region or "", f"Region (survey field) of plate {n}")
        if plate.epoch is not None:
            header[f"EPOCH{n}"] = (round(plate.epoch, 4), f"[yr] Epoch of plate {n}")
        # + 0.0: a rounded -0.0 would be written as "-0.0".
        header[f"OFFSET{n}"] = (round(offset, 3) + 0.0, f"[ADU] subtracted from plate {n}")
    covered = mosaic.data[mosaic.platemap > 0]
    if covered.size:
        header["DATAMIN"] = (int(covered.min()), "Minimum data value")
        header["DATAMAX"] = (int(covered.max()), "Maximum data value")
    for line in MOSAIC_COMMENTS:
        header["COMMENT"] = line
    for line in ACKNOWLEDGEMENT:
        header["COMMENT"] = line
    return header


def mosaic_hdul(mosaic: Mosaic, header: fits.Header) -> fits.HDUList:
    """Primary HDU (int16 image) and the ``PLATEMAP`` extension (uint8, 0 = no plate)."""
    primary = fits.PrimaryHDU(data=mosaic.data, header=header)
    map_header = fits.Header()
    map_header["BUNIT"] = ("", "index n of keyword PLATEn; 0: no plate")
    for n, plate in enumerate(mosaic.plates, 1):
        map_header[f"PLATE{n}"] = plate.plate_id
    platemap = fits.ImageHDU(data=mosaic.platemap, header=map_header, name="PLATEMAP")
    return fits.HDUList([primary, platemap])


def mosaic_fits_bytes(mosaic: Mosaic, header: fits.Header) -> bytes:
    """The mosaic as FITS bytes (primary image + PLATEMAP)."""
    buffer = io.BytesIO()
    mosaic_hdul(mosaic, header).writeto(buffer, output_verify="exception")
    return buffer.getvalue()


def grid_shape(survey: str, width_arcmin: float, height_arcmin: float) -> tuple[int, int]:
    """``(ny, nx)`` of the mosaic grid of a field: the survey's native pixel scale."""
    scale = SURVEYS[survey].pixel_scale_arcsec
    nx = max(1, math.floor(width_arcmin * 60.0 / scale + 0.5))
    ny = max(1, math.floor(height_arcmin * 60.0 / scale + 0.5))
    return ny, nx


def expected_mosaic_bytes(survey: str, width_arcmin: float, height_arcmin: float) -> int:
    """File bytes of a mosaic of ``survey``: int16 image, uint8 PLATEMAP, two headers of at
    most ``MOSAIC_HEADER_BLOCKS`` blocks each, every part padded to whole FITS blocks.
    Compression is not credited (as for cut-outs), so the quota check stays conservative."""
    ny, nx = grid_shape(survey, width_arcmin, height_arcmin)

    def blocks(n_bytes: int) -> int:
        return -(-n_bytes // 2880)

    total = blocks(2 * nx * ny) + blocks(nx * ny) + 2 * MOSAIC_HEADER_BLOCKS
    return total * 2880
