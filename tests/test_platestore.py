"""The plate store: lossless tile-compressed plates, box reads, the open-plate cache."""

from __future__ import annotations

import gzip
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.data import get_pkg_data_filename
from numpy.testing import assert_array_equal

from extraction.core.cut import FieldNotCovered, cut_field
from extraction.core.platestore import (
    BLANK_DEFAULT,
    PlateCache,
    PlateReader,
    PlateStoreError,
    write_plate,
)

NY, NX = 1300, 1500  # a small plate: 3 x 3 tiles of 500 px, partial tiles at the far edges


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    """Smooth sky + noise + the int16 extremes, so lossless storage is really tested."""
    rng = np.random.default_rng(2024)
    yy, xx = np.mgrid[0:NY, 0:NX]
    sky = 8000 + 3000 * np.sin(xx / 97.0) * np.cos(yy / 131.0)
    data = (sky + rng.normal(0, 300, (NY, NX))).astype(np.int16)
    data[0, 0], data[-1, -1], data[700, 3] = -32768, 32767, -1
    return data


@pytest.fixture(scope="module")
def header() -> fits.Header:
    path = get_pkg_data_filename("data/dss.14.29.56-62.41.05.fits.gz", package="astropy.wcs.tests")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SKEW card is not standard FITS
        hdr = fits.getheader(path)
    hdr["CNPIX1"], hdr["CNPIX2"] = 8000, 1000
    return hdr


@pytest.fixture(scope="module")
def rice_plate(tmp_path_factory, pixels, header) -> Path:
    return write_plate(tmp_path_factory.mktemp("rice") / "0025.fits", pixels, header)


BOXES = {
    "inside": (100, 350, 120, 300),
    "tile-corner": (499, 501, 499, 501),
    "across-tiles": (450, 1050, 480, 1020),
    "last-partial-tile": (1400, 1500, 1200, 1300),
    "left-edge": (-40, 60, 600, 700),
    "bottom-right-corner": (1450, 1560, 1250, 1330),
    "larger-than-plate": (-10, NX + 10, -5, NY + 5),
    "entirely-off": (NX + 10, NX + 50, 0, 20),
}


def expected_box(pixels, x0, x1, y0, y1, fill=BLANK_DEFAULT):
    """The box cut from the in-memory array with an independent padding implementation."""
    pad = max(0, -x0, -y0, x1 - NX, y1 - NY)
    padded = np.pad(pixels, pad, constant_values=fill)
    valid = np.pad(np.ones(pixels.shape, bool), pad, constant_values=False)
    box = (slice(y0 + pad, y1 + pad), slice(x0 + pad, x1 + pad))
    return padded[box], valid[box]


@pytest.mark.parametrize("name", BOXES)
def test_rice_box_equals_the_same_box_of_the_array(rice_plate, pixels, name):
    x0, x1, y0, y1 = BOXES[name]
    with PlateReader(rice_plate) as reader:
        assert reader.compressed
        got = reader.read_box(x0, x1, y0, y1)
    data, valid = expected_box(pixels, x0, x1, y0, y1)
    assert got.data.dtype == np.int16
    assert_array_equal(got.data, data)
    assert_array_equal(got.valid, valid)
    assert got.complete == bool(valid.all())
    if got.inside is not None:
        assert got.valid[got.inside].all() and got.valid.sum() == got.valid[got.inside].size


def test_reading_a_box_never_decompresses_the_whole_plate(rice_plate):
    with PlateReader(rice_plate) as reader:
        reader.read_box(10, 20, 10, 20)
        # astropy caches a full decompression in the HDU's ``data`` attribute.
        assert "data" not in vars(reader._hdu)


def test_stored_plate_keeps_the_header_and_is_lossless_without_scaling(rice_plate, pixels):
    with fits.open(rice_plate) as hdul:
        assert len(hdul) == 2 and hdul[0].header["NAXIS"] == 0
        image = hdul[1]
        assert isinstance(image, fits.CompImageHDU)
        assert image.compression_type == "RICE_1" and image.tile_shape == (500, 500)
        assert "BZERO" not in image.header and "BSCALE" not in image.header
        assert image.header["CNPIX1"] == 8000 and image.header["PLATEID"].strip() == "0025"
        assert image.header["AMDX8"] == pytest.approx(2.2770722559048e-06)
        assert image.data.dtype.kind == "i"
        assert_array_equal(image.data, pixels)


def test_hcompress_is_lossless_too(tmp_path, pixels, header):
    path = write_plate(tmp_path / "h.fits", pixels, header, compression="HCOMPRESS_1")
    with PlateReader(path) as reader:
        for x0, x1, y0, y1 in (BOXES["across-tiles"], BOXES["larger-than-plate"]):
            data, _ = expected_box(pixels, x0, x1, y0, y1)
            assert_array_equal(reader.read_box(x0, x1, y0, y1).data, data)


def test_hcompress_refuses_edge_tiles_below_four_pixels(tmp_path, header):
    with pytest.raises(PlateStoreError, match="at least 4 pixels"):
        write_plate(
            tmp_path / "h.fits", np.zeros((1002, 600), np.int16), header, compression="HCOMPRESS_1"
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzipped"])
def test_plain_fits_plate_reads_the_same(tmp_path, pixels, header, gzipped):
    path = tmp_path / "plain.fits"
    fits.PrimaryHDU(pixels, header=header).writeto(path, output_verify="silentfix")
    if gzipped:
        with path.open("rb") as raw, gzip.open(tmp_path / "plain.fits.gz", "wb") as packed:
            shutil.copyfileobj(raw, packed)
        path = tmp_path / "plain.fits.gz"
    with PlateReader(path) as reader:
        assert not reader.compressed and reader.shape == (NY, NX)
        for x0, x1, y0, y1 in BOXES.values():
            data, valid = expected_box(pixels, x0, x1, y0, y1)
            got = reader.read_box(x0, x1, y0, y1)
            assert_array_equal(got.data, data)
            assert_array_equal(got.valid, valid)


def test_fill_is_the_plates_blank_value(tmp_path, pixels, header):
    hdr = header.copy()
    hdr["BLANK"] = -999
    path = write_plate(tmp_path / "b.fits", pixels, hdr)
    with PlateReader(path) as reader:
        got = reader.read_box(-5, 5, 0, 3)
    assert got.fill == -999
    data, _ = expected_box(pixels, -5, 5, 0, 3, fill=-999)
    assert_array_equal(got.data, data)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10), np.float32), np.zeros((10, 10), np.int32), np.zeros((2, 10, 10), np.int16)],
    ids=["float32", "int32", "3-D"],
)
def test_write_refuses_anything_but_2d_int16(tmp_path, header, bad):
    with pytest.raises(PlateStoreError):
        write_plate(tmp_path / "bad.fits", bad, header)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_no_temp_file_and_never_a_half_plate(
    tmp_path, pixels, header, monkeypatch
):
    path = write_plate(tmp_path / "p.fits", pixels, header)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.fits"]
    before = path.read_bytes()

    def crash_midway(self, fileobj, **kwargs):
        fileobj.write(b"SIMPLE  =                    T" + b" " * 50)
        raise OSError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        write_plate(path, pixels[::-1], header)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.fits"]
    assert path.read_bytes() == before


def test_cache_returns_the_same_plate_until_the_file_changes(tmp_path, pixels, header):
    cache = PlateCache(maxsize=4)
    path = write_plate(tmp_path / "c.fits", pixels, header)
    first = cache.get(path)
    assert cache.get(path) is first
    assert cache.get(tmp_path / "." / "c.fits") is first  # keyed by the real path
    assert first.geometry.area.x0 == 8000 and first.geometry.area.nx == NX

    write_plate(path, pixels + 1, header)
    second = cache.get(path)
    assert second is not first and second.reader is not first.reader
    assert second.reader.read_box(0, 2, 1, 2).data[0, 0] == pixels[1, 0] + 1
    # The replaced reader still serves the old file to whoever holds it.
    assert first.reader.read_box(0, 2, 1, 2).data[0, 0] == pixels[1, 0]


def test_cache_is_bounded_least_recently_used_first(tmp_path, pixels, header):
    small = pixels[:40, :60]
    paths = [write_plate(tmp_path / f"{k}.fits", small, header) for k in range(3)]
    cache = PlateCache(maxsize=2)
    first = cache.get(paths[0])
    cache.get(paths[1])
    assert cache.get(paths[0]) is first  # now most recently used
    cache.get(paths[2])  # evicts paths[1]
    assert len(cache) == 2
    assert cache.get(paths[0]) is first
    assert os.path.realpath(paths[1]) not in cache._entries


def test_cut_field_reads_the_box_of_its_coverage_and_refuses_a_field_off_the_plate(
    rice_plate, pixels
):
    plate = PlateCache().get(rice_plate)
    ra, dec = (float(v) for v in plate.geometry.pixel_to_sky(700.0, 650.0))
    cut = cut_field(plate, ra_deg=ra, dec_deg=dec, width_arcmin=3, height_arcmin=2, identifier="x")
    box = cut.coverage.box
    assert box is not None and not cut.clipped
    assert_array_equal(cut.data, pixels[box.y0 : box.y1, box.x0 : box.x1])
    header = cut.header()
    assert (header["CNPIX1"], header["CNPIX2"]) == (8000 + box.x0, 1000 + box.y0)
    assert header["OBJECT"] == "x" and header["NAXIS1"] == box.nx
    with pytest.raises(FieldNotCovered):
        cut_field(
            plate, ra_deg=ra, dec_deg=dec - 20, width_arcmin=3, height_arcmin=2, identifier="y"
        )
