"""Mosaics (mode m) in the core: grid, plate choice, background matching, FITS output.

Synthetic plates (``tests.mosaic_sky``) with known windows, offsets and stars. The references
are independent of ``extraction.core.mosaic``: the plate solution evaluated at every output
pixel through ``PlateGeometry.sky_to_pixel`` (astropy/WCSLIB), ``reproject_interp`` on each
plate's whole stored image, and the stars' catalogue positions through the output WCS.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from reproject import reproject_interp

from extraction.core import mosaic as M
from extraction.core.plates import DSS_REQUIRED_KEYWORDS, PlateGeometry
from extraction.core.platestore import BoxRead, PlateReader, write_plate
from tests.mosaic_sky import FIELD_DEC, FIELD_RA, NOISE_SIGMA, catalogue, field_plates
from tests.test_cutout_wcs import fitsverify

SCALE = 15.0 * 67.2 / 1000  # DSS2 native pixel scale, arcsec (1.008)


class RecordingSource:
    """A plate source that remembers every box read from it (and reads through the store)."""

    def __init__(self, reader: PlateReader) -> None:
        self.reader = reader
        self.header = reader.header
        self.shape = reader.shape
        self.fill = reader.fill
        self.boxes: list[tuple[int, int, int, int]] = []

    def read_box(self, x0: int, x1: int, y0: int, y1: int) -> BoxRead:
        self.boxes.append((x0, x1, y0, y1))
        return self.reader.read_box(x0, x1, y0, y1)

    def close(self) -> None:
        self.reader.close()


@pytest.fixture(scope="module")
def stars() -> np.ndarray:
    return catalogue()


@pytest.fixture(scope="module")
def plates(tmp_path_factory: pytest.TempPathFactory, stars: np.ndarray) -> list[M.MosaicPlate]:
    folder = tmp_path_factory.mktemp("plates")
    out = []
    for sky in field_plates():
        reader = PlateReader(write_plate(folder / f"{sky.plate_id}.fits", sky.data, sky.header))
        out.append(
            M.MosaicPlate(
                sky.plate_id,
                sky.header["REGION"],
                float(sky.header["EPOCH"]),
                RecordingSource(reader),
                PlateGeometry(reader.header),
            )
        )
    return out


@pytest.fixture(scope="module")
def grid() -> M.MosaicGrid:
    return M.mosaic_grid(FIELD_RA, FIELD_DEC, 10.0, 10.0, "DSS2")


@pytest.fixture(scope="module")
def mosaic(grid: M.MosaicGrid, plates: list[M.MosaicPlate]) -> M.Mosaic:
    # Strips smaller than the grid, so that the strip seams are exercised too.
    return M.mosaic_build(grid, plates, strip_rows=128)


def exact_distances(grid: M.MosaicGrid, plates: list[M.MosaicPlate]) -> np.ndarray:
    """Edge distance of every output pixel on every plate, from the plate solution itself."""
    v, u = np.mgrid[0 : grid.ny, 0 : grid.nx]
    ra, dec = grid.wcs.wcs_pix2world(u, v, 0)
    out = []
    for plate in plates:
        x, y = plate.geometry.sky_to_pixel(ra, dec)
        area = plate.geometry.area_box()
        out.append(
            np.minimum.reduce(
                [x - area.x0 + 0.5, area.x1 - 0.5 - x, y - area.y0 + 0.5, area.y1 - 0.5 - y]
            )
        )
    return np.array(out)


def test_grid_is_north_up_tan_at_the_native_scale_centred_on_the_field(grid) -> None:
    assert grid.shape == (595, 595)  # 600" / 1.008"
    assert list(grid.wcs.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    ra, dec = grid.wcs.wcs_pix2world([(grid.nx - 1) / 2], [(grid.ny - 1) / 2], 0)
    assert ra[0] == pytest.approx(FIELD_RA, abs=1e-9) and dec[0] == pytest.approx(FIELD_DEC)
    _, dec_up = grid.wcs.wcs_pix2world([297], [400], 0)
    ra_right, _ = grid.wcs.wcs_pix2world([400], [297], 0)
    assert dec_up[0] > FIELD_DEC and ra_right[0] < FIELD_RA  # north up, east left
    assert grid.wcs.proj_plane_pixel_scales()[0].to_value("arcsec") == pytest.approx(SCALE)


def test_interpolated_plate_coordinates_match_the_plate_solution(grid, plates) -> None:
    exact = exact_distances(grid, plates)
    for plate, reference in zip(plates, exact, strict=True):
        x, y = M.PlateCoordinates(grid, plate.geometry).rows(0, grid.ny)
        assert np.nanmax(np.abs(M.edge_distance(plate.geometry, x, y) - reference)) < 1e-3


def test_no_blank_where_any_plate_covers_and_blank_where_none(grid, plates, mosaic) -> None:
    exact = exact_distances(grid, plates)
    best = np.nanmax(exact, axis=0)
    covered = mosaic.platemap > 0
    assert not (~covered & (best > 0.01)).any()
    assert (mosaic.data[covered] != M.MOSAIC_BLANK).all()
    # The north-west corner lies on no plate: BLANK there, and only there.
    assert (best < -0.01).sum() > 1000
    assert (mosaic.data[best < -0.01] == M.MOSAIC_BLANK).all()
    assert (mosaic.platemap[best < -0.01] == 0).all()


def test_platemap_is_the_plate_farthest_from_the_edge(grid, plates, mosaic) -> None:
    exact = exact_distances(grid, plates)
    ids = [p.plate_id for p in mosaic.plates]
    ranked = np.sort(np.nan_to_num(exact, nan=-np.inf), axis=0)
    # Pixels where the two best plates are within 0.01 px are ties: either answer is right.
    decided = (ranked[-1] > 0.01) & (ranked[-1] - ranked[-2] > 0.01)
    expected = np.argmax(np.nan_to_num(exact, nan=-np.inf), axis=0)
    chosen = np.array([ids.index(p.plate_id) if p.plate_id in ids else -1 for p in plates])
    got = mosaic.platemap.astype(int) - 1
    assert (got[decided] == chosen[expected[decided]]).all()
    assert len(mosaic.plates) == 3 and set(np.unique(mosaic.platemap)) == {0, 1, 2, 3}


def seam_steps(data: np.ndarray, platemap: np.ndarray) -> dict[tuple[int, int], float]:
    """Median step across each seam: (plate q side) - (plate p side) for neighbours p != q."""
    steps: dict[tuple[int, int], list[np.ndarray]] = {}
    for a, b, ma, mb in (
        (data[:, :-1], data[:, 1:], platemap[:, :-1], platemap[:, 1:]),
        (data[:-1, :], data[1:, :], platemap[:-1, :], platemap[1:, :]),
    ):
        seam = (ma != mb) & (ma > 0) & (mb > 0)
        for p, q, da, db in zip(ma[seam], mb[seam], a[seam], b[seam], strict=True):
            key = (min(p, q), max(p, q))
            sign = 1.0 if p < q else -1.0
            steps.setdefault(key, []).append(np.array([sign * (float(db) - float(da))]))
    return {k: float(np.median(np.concatenate(v))) for k, v in steps.items() if len(v) >= 50}


def test_seams_vanish_after_matching_and_not_before(mosaic) -> None:
    data = mosaic.data.astype(float)
    steps = seam_steps(data, mosaic.platemap)
    assert len(steps) == 3  # every pair of plates meets
    assert all(abs(s) < 3 * NOISE_SIGMA for s in steps.values()), steps
    # The same pixels without the offsets: the plates' own backgrounds differ by 250-650 ADU.
    offsets = np.array([0.0, *mosaic.offsets])
    unmatched = data + offsets[mosaic.platemap]
    before = seam_steps(unmatched, mosaic.platemap)
    assert min(abs(s) for s in before.values()) > 10 * NOISE_SIGMA, before


def test_offsets_recover_the_plates_relative_backgrounds(mosaic) -> None:
    put_in = {"4M01": 0.0, "4M02": 400.0, "4M03": -250.0}
    solved = dict(zip([p.plate_id for p in mosaic.plates], mosaic.offsets, strict=True))
    for plate_id, offset in solved.items():
        assert offset - solved["4M01"] == pytest.approx(put_in[plate_id], abs=3.0)
    assert sum(solved.values()) == pytest.approx(0.0, abs=1e-6)


def test_stars_lie_at_their_catalogue_positions(grid, mosaic, stars) -> None:
    us, vs = grid.wcs.wcs_world2pix(stars[:, 0], stars[:, 1], 0)
    separation = np.hypot(us[:, None] - us[None], vs[:, None] - vs[None])
    np.fill_diagonal(separation, np.inf)
    checked = 0
    for u, v, nearest in zip(us, vs, separation.min(axis=1), strict=True):
        iu, iv = round(u), round(v)
        if nearest < 15:  # a neighbour's light would pull the centroid
            continue
        if not (5 <= iu < grid.nx - 5 and 5 <= iv < grid.ny - 5):
            continue
        window = (slice(iv - 5, iv + 6), slice(iu - 5, iu + 6))
        if (mosaic.platemap[window] == 0).any():
            continue
        cut = mosaic.data[window].astype(float)
        cut -= np.median(mosaic.data[iv - 15 : iv + 16, iu - 15 : iu + 16])
        cut = np.clip(cut, 0, None)
        yy, xx = np.mgrid[window]
        cu, cv = (cut * xx).sum() / cut.sum(), (cut * yy).sum() / cut.sum()
        assert np.hypot(cu - u, cv - v) < 0.3, (u, v, cu, cv)
        checked += 1
    assert checked >= 20


def test_each_pixel_is_reproject_of_its_plate_minus_its_offset(grid, mosaic) -> None:
    for n, (plate, offset) in enumerate(zip(mosaic.plates, mosaic.offsets, strict=True), 1):
        reader = plate.source.reader  # type: ignore[attr-defined]
        whole = reader.read_box(0, reader.nx, 0, reader.ny).data.astype(np.float32)
        reference = reproject_interp(
            (whole, plate.geometry.wcs), grid.wcs, shape_out=grid.shape, return_footprint=False
        )
        mine = mosaic.platemap == n
        assert mine.sum() > 5000
        assert np.isfinite(reference[mine]).all()
        difference = mosaic.data[mine] - (reference[mine] - offset)
        assert np.abs(difference).max() <= 0.51  # int16 rounding


def test_only_boxes_of_the_plates_are_read(mosaic, plates) -> None:
    for plate in plates:
        ny, nx = plate.source.shape
        assert plate.source.boxes  # type: ignore[attr-defined]
        for x0, x1, y0, y1 in plate.source.boxes:  # type: ignore[attr-defined]
            assert 0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny
            assert (y1 - y0) < ny  # strips: never the whole window at once


def test_one_plate_still_resamples(grid, plates) -> None:
    single = M.mosaic_build(grid, plates[:1])
    assert len(single.plates) == 1 and single.offsets == (0.0,)
    header = M.mosaic_header(
        single, identifier="one", ra_deg=FIELD_RA, dec_deg=FIELD_DEC, survey="DSS2R"
    )
    assert header["NPLATES"] == 1 and header["PLATE1"] == "4M01"
    assert "PLTRAH" not in header and header["CTYPE1"] == "RA---TAN"
    # An offset that rounds to zero from below is written 0.0, not -0.0.
    tiny = M.mosaic_header(
        dataclasses.replace(single, offsets=(-1e-9,)),
        identifier="one",
        ra_deg=FIELD_RA,
        dec_deg=FIELD_DEC,
        survey="DSS2R",
    )
    assert tiny.cards["OFFSET1"].image.split("/")[0].split("=")[1].strip() == "0.0"


def test_no_plate_is_an_error(grid, plates) -> None:
    with pytest.raises(M.MosaicError):
        M.mosaic_build(grid, [])


def test_fits_has_a_tan_wcs_no_plate_solution_and_a_platemap(mosaic, tmp_path: Path) -> None:
    header = M.mosaic_header(
        mosaic, identifier="NGC 3379/x", ra_deg=FIELD_RA, dec_deg=FIELD_DEC, survey="DSS2R"
    )
    path = tmp_path / "m.fits"
    path.write_bytes(M.mosaic_fits_bytes(mosaic, header))
    report = fitsverify(path)
    assert " 0 error(s)" in report and " 0 warning(s)" in report, report
    with fits.open(path) as hdul:
        primary, platemap = hdul[0], hdul["PLATEMAP"]
        h = primary.header
        assert h["BITPIX"] == 16 and h["BLANK"] == M.MOSAIC_BLANK
        assert not set(DSS_REQUIRED_KEYWORDS) & set(h.keys())
        assert "CNPIX1" not in h and "PLATEID" not in h
        assert h["NPLATES"] == 3
        for n, plate in enumerate(mosaic.plates, 1):
            assert h[f"PLATE{n}"] == plate.plate_id and h[f"REGION{n}"] == plate.region
            assert h[f"EPOCH{n}"] == pytest.approx(plate.epoch)
            assert h[f"OFFSET{n}"] == pytest.approx(mosaic.offsets[n - 1], abs=1e-3)
        text = " ".join(str(c) for c in h["COMMENT"])
        for words in ("resampled", "mosaicked", "different epochs", "not calibrated"):
            assert words in text
        assert platemap.header["BITPIX"] == 8
        np.testing.assert_array_equal(platemap.data, mosaic.platemap)
        raw = primary.data  # astropy applies BLANK: NaN where no plate
        assert np.isnan(raw[mosaic.platemap == 0]).all()
        with warnings.catch_warnings():
            warnings.simplefilter("error", FITSFixedWarning)
            wcs = WCS(h)
    assert not wcs.has_distortion
    ra, dec = wcs.all_pix2world([100.0], [200.0], 0)
    ref_ra, ref_dec = mosaic.grid.wcs.wcs_pix2world([100.0], [200.0], 0)
    assert ra[0] == pytest.approx(ref_ra[0], abs=1e-10)
    assert dec[0] == pytest.approx(ref_dec[0], abs=1e-10)


def test_solve_offsets_fits_pairwise_medians() -> None:
    truth = np.array([10.0, -30.0, 5.0, 15.0])
    pairs = {(i, j): (truth[i] - truth[j], 1000) for i in range(4) for j in range(i + 1, 4)}
    np.testing.assert_allclose(M.solve_offsets(4, pairs), truth, atol=1e-6)
    # A plate overlapping nothing keeps offset 0; the others stay relative to each other.
    solved = M.solve_offsets(3, {(0, 1): (100.0, 500)})
    assert solved[2] == pytest.approx(0.0, abs=1e-3)
    assert solved[0] - solved[1] == pytest.approx(100.0, abs=1e-6)


def test_expected_bytes_is_the_file_size_uncompressed(mosaic, grid) -> None:
    header = M.mosaic_header(
        mosaic, identifier="x", ra_deg=FIELD_RA, dec_deg=FIELD_DEC, survey="DSS2R"
    )
    size = len(M.mosaic_fits_bytes(mosaic, header))
    expected = M.expected_mosaic_bytes("DSS2", 10.0, 10.0)
    assert size <= expected < size + 2 * M.MOSAIC_HEADER_BLOCKS * 2880
    assert M.grid_shape("DSS2", 10.0, 10.0) == grid.shape
