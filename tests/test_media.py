"""Plates from the original DSS media: blocks, headers, plate lists, ``import_plates --media``.

No disc material is used: every test builds its own small media in the disc layout (blocks
H-compressed by astropy's CFITSIO encoder and narrowed to the 4-byte-sumall disc format, a
``.hhh`` header made from the real DSS header shipped with astropy). The references are
astropy's own decoder and FITS reader.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.fits.hdu.compressed._codecs import HCompress1
from astropy.utils.data import get_pkg_data_filename
from django.core.management import CommandError, call_command
from numpy.testing import assert_array_equal

from extraction.core.cutout import sexagesimal_dec, sexagesimal_ra
from extraction.core.media.blocks import (
    BlockError,
    decode_block,
    decode_tile,
    disc_header,
    encode_block,
    narrow,
    widen,
)
from extraction.core.media.layout import media_name, scan_media
from extraction.core.media.mastering import hhh_bytes, plate_list_record, write_plate_blocks
from extraction.core.media.reader import MediaPlateReader
from extraction.core.media.texts import ListedPlate, parse_plate_list, read_hhh
from extraction.core.plates import PlateGeometry
from extraction.core.platestore import PlateReader
from extraction.models import Plate
from extraction.services.platestores import local_plate_store
from extraction.services.requests import request_create_from_text
from extraction.services.selection import FieldTarget, plates_table

DSS_SCAN = get_pkg_data_filename("data/dss.14.29.56-62.41.05.fits.gz", package="astropy.wcs.tests")
ROWS, COLS = 1120, 1250  # 3x3 blocks; the last block row is 120 rows, the last column 250
SCALE = 24  # lossy, as on the discs


# -- Building media -----------------------------------------------------------------------


def real_plate_header(rows: int = ROWS, cols: int = COLS) -> fits.Header:
    """The real DSS header of plate 0025 (S134) as a full-plate ``.hhh`` of a small plate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SKEW card is not standard FITS
        scan = fits.getheader(DSS_SCAN)
    header = fits.Header()
    header["SIMPLE"], header["BITPIX"], header["NAXIS"] = True, 16, 2
    header["NAXIS1"], header["NAXIS2"] = cols, rows
    for card in scan.cards:
        key = card.keyword
        if key in ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "CNPIX1", "CNPIX2"):
            continue
        if key.startswith(("OBJ", "CTYPE", "CRPIX", "CRVAL", "CROTA", "CDELT", "CD1_", "CD2_")):
            continue
        if key in ("SKEW", "DATAMAX", "DATAMIN"):
            continue
        header.append(card)
    return header


def sky_pixels(rows: int = ROWS, cols: int = COLS, seed: int = 11) -> np.ndarray:
    """A photographic-looking plate: fog level, a gradient, stars, grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    image = 3000.0 + 0.4 * x + 0.2 * y
    for _ in range(60):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        image += rng.uniform(500, 12000) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8.0)
    image += rng.normal(0, 25, image.shape)
    return np.clip(image, 0, 32000).astype(np.int16)


def disc_name(key: str) -> str:
    """Upper case as on the discs; blocks of row 0 also carry an ISO 9660 version."""
    return key.upper() + (";1" if key.split(".")[1].startswith("0") else "")


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return sky_pixels()


@pytest.fixture
def media(tmp_path: Path, pixels) -> Path:
    """A disc with plate S134 (blocks and header) and a plate list naming two more plates."""
    disc = tmp_path / "USA_AURA_STSI_DSS1_0061"
    write_plate_blocks(disc / "S134", "s134", pixels, scale=SCALE, name=disc_name)
    (disc / "HEADERS").mkdir()
    (disc / "HEADERS" / "S134.HHH;1").write_bytes(hhh_bytes(real_plate_header()))
    records = [
        ListedPlate("S134", "0025", 219.4453, -60.2165, 1976.193, "SERC-J", "61"),
        ListedPlate("XE355", "04IN", 150.0, 20.0, 1953.2, "POSS-E", "12"),
        ListedPlate("S999", "0999", 30.0, -45.0, 1980.5, "SERC-J", "90"),
    ]
    title = b"DSS plate list (test media)".ljust(80)
    # Fixed 80-byte records without line ends, as on some copies.
    (disc / "HEADERS" / "LO_COMP.LIS").write_bytes(
        title + b"".join(plate_list_record(r) for r in records)
    )
    return disc


def decoded_mosaic(disc: Path) -> np.ndarray:
    """The reference: every block file decoded by astropy's codec and put in place."""
    out = np.zeros((ROWS, COLS), np.int16)
    for path in (disc / "S134").iterdir():
        row, col = (int(c, 36) for c in path.name.split(";")[0][-2:])
        stream = path.read_bytes()
        rows, cols = struct.unpack(">ii", stream[2:10])
        tile = stream[:14] + struct.pack(">q", struct.unpack(">i", stream[14:18])[0]) + stream[18:]
        codec = HCompress1(scale=0, smooth=False, bytepix=8, nx=rows, ny=cols)
        block = codec.decode(np.frombuffer(tile, np.uint8)).reshape(rows, cols)
        out[row * 500 : row * 500 + rows, col * 500 : col * 500 + cols] = block
    return out


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_plates", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def plates_dir(settings, tmp_path: Path) -> Path:
    settings.PLATES_DIR = tmp_path / "plates"
    return settings.PLATES_DIR


# -- The block format ---------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, -20000])  # -20000: a negative sumall, sign-extended
def test_widening_sumall_turns_a_disc_block_into_a_fits_tile_and_back(pixels, offset):
    block = pixels[:500, :300].astype(np.int64) + offset
    codec = HCompress1(scale=0, smooth=False, bytepix=8, nx=500, ny=300)
    tile = bytes(codec.encode(block))  # CFITSIO's FITS form: sumall 8 bytes
    disc = narrow(tile)
    assert len(disc) == len(tile) - 4
    assert disc[:2] == b"\xdd\x99"
    assert struct.unpack(">iiii", disc[2:18])[:3] == (500, 300, 0)  # nx = rows, ny = columns
    assert (struct.unpack(">i", disc[14:18])[0] < 0) == (offset < 0)
    assert widen(disc) == tile
    # CFITSIO refuses the disc form as it is, and decodes the widened one bit for bit.
    with pytest.raises(BlockError):
        decode_tile(disc, 500, 300)
    assert_array_equal(decode_block(disc), block)


def test_lossy_blocks_decode_close_to_the_original_and_carry_their_scale(pixels):
    stream = encode_block(pixels[500:1000, 1000:1250], scale=SCALE)
    header = disc_header(stream)
    assert (header.rows, header.cols, header.scale) == (500, 250, SCALE)
    error = np.abs(decode_block(stream).astype(int) - pixels[500:1000, 1000:1250])
    assert 0 < error.max() < 4 * SCALE
    assert len(stream) < pixels[500:1000, 1000:1250].nbytes / 3


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: s[:10], "shorter than the 21-byte block header"),
        (lambda s: b"\x1f\x8b" + s[2:], "not the H-compress magic"),
        (lambda s: s[:2] + struct.pack(">i", 9000) + s[6:], "impossible block header"),
        (lambda s: s[:21] + bytes(len(s) - 21), "does not decode"),
        (lambda s: s[: len(s) // 3], "does not decode"),
    ],
)
def test_damaged_blocks_are_refused_with_the_reason(pixels, damage, message):
    stream = encode_block(pixels[:500, :500], scale=SCALE)
    # As the import reads every block: without check_end, a zeroed body "decodes" or not
    # depending on whatever memory follows the buffer.
    with pytest.raises(BlockError, match=message):
        decode_block(damage(stream), check_end=True)


def test_a_truncated_block_is_refused_even_where_the_decoder_would_read_past_its_end(pixels):
    stream = encode_block(pixels[:500, :500], scale=SCALE)
    cuts = range(len(stream) // 2, len(stream) - 1, len(stream) // 60)
    # CFITSIO is not told a stream's length: many truncations "decode" from what follows
    # them (here zero bytes, to stay inside our own buffer).
    followed_by_zeros = [
        cut for cut in cuts if _decodes(widen(stream[:cut]) + bytes(1 << 16), 500, 500)
    ]
    assert followed_by_zeros
    for cut in cuts:
        with pytest.raises(BlockError):
            decode_block(stream[:cut], check_end=True)
    assert_array_equal(decode_block(stream, check_end=True), decode_block(stream))


def _decodes(tile: bytes, rows: int, cols: int) -> bool:
    try:
        decode_tile(tile, rows, cols)
    except BlockError:
        return False
    return True


# -- Layout, headers, lists -----------------------------------------------------------------


def test_scan_finds_blocks_headers_and_lists_whatever_their_case_and_version(media):
    scan = scan_media([media])
    assert list(scan.plates) == ["s134"] and list(scan.headers) == ["s134"]
    assert len(scan.plates["s134"].blocks) == 9 and scan.plates["s134"].missing(ROWS, COLS) == []
    assert {p.name for p in scan.plates["s134"].blocks.values()} >= {"S134.02;1", "S134.22"}
    assert [p.name for p in scan.lists] == ["LO_COMP.LIS"]
    assert media_name("XE355.1R;1") == "xe355.1r"


def test_hhh_header_reads_with_or_without_line_ends(tmp_path):
    header = real_plate_header()
    packed = tmp_path / "a.hhh"
    packed.write_bytes(hhh_bytes(header))
    lined = tmp_path / "b.hhh"
    lined.write_text("\n".join(c.image for c in header.cards) + "\nEND\n")
    for path in (packed, lined):
        read = read_hhh(path)
        assert read["PLATEID"] == "0025" and read["REGION"] == "S134"
        assert read["AMDX1"] == header["AMDX1"] and read["NAXIS2"] == ROWS


def test_plate_list_records_parse_with_or_without_line_ends():
    records = [
        ListedPlate("XE355", "04IN", 150.25, 20.5, 1953.2, "POSS-E", "12"),
        ListedPlate("S134", "0025", 219.4453, -0.75, 1976.19, "SERC-J", "61"),
    ]
    raw = b"".join(plate_list_record(r) for r in records)
    for text in (raw, b"# a comment\n" + b"\n".join(raw[i : i + 80] for i in (0, 80))):
        parsed = parse_plate_list(text)
        assert [(p.region, p.plate_id, p.volume) for p in parsed] == [
            ("XE355", "04IN", "12"),
            ("S134", "0025", "61"),
        ]
        assert parsed[0].ra_deg == pytest.approx(150.25, abs=1e-4)
        assert parsed[1].dec_deg == pytest.approx(-0.75, abs=1e-4)


def test_media_reader_decodes_only_what_a_box_needs_and_matches_the_blocks(media):
    scan = scan_media([media])
    reader = MediaPlateReader(scan.plates["s134"], real_plate_header())
    reference = decoded_mosaic(media)
    box = reader.read_box(480, 1260, 990, 1130)  # crosses blocks, the short row, the edge
    assert_array_equal(box.data[box.valid].reshape(130, 770), reference[990:1120, 480:1250])
    assert not box.valid[-10:].any() and (box.data[-10:] == -32768).all()


# -- import_plates --media ----------------------------------------------------------------


@pytest.mark.django_db
def test_import_stores_the_blocks_unchanged_and_serves_them_pixel_for_pixel(
    media, plates_dir, pixels
):
    out, _ = run("--media", str(media), "--jobs", "2")
    assert "s134: DSS1 plate 0025 imported, 1250x1120 px" in out
    plate = Plate.objects.get(plate_id="0025")
    assert (plate.survey, plate.region, plate.online) == ("DSS1", "S134", True)
    assert (plate.x0, plate.y0, plate.width_px, plate.height_px) == (0, 0, COLS, ROWS)
    stored = fits.Header.fromstring(plate.header)
    for key in ("PLATEID", "REGION", "PLTRAH", "PPO3", "AMDX1", "AMDY13", "XPIXELSZ"):
        assert stored[key] == real_plate_header()[key]
    # The tiles are the disc blocks, sumall widened, byte for byte: no recompression.
    with fits.open(
        local_plate_store().path_of(plate.data_file), disable_image_compression=True
    ) as hdul:
        assert hdul[1].header["ZCMPTYPE"] == "HCOMPRESS_1"
        tiles = hdul[1].data["COMPRESSED_DATA"]
        block_12 = next((media / "S134").glob("S134.12*")).read_bytes()
        assert tiles[1 * 3 + 2].tobytes() == widen(block_12)
    # astropy's own reader of the stored file equals the decoded blocks everywhere.
    reference = decoded_mosaic(media)
    with fits.open(local_plate_store().path_of(plate.data_file)) as hdul:
        assert_array_equal(hdul[1].section[450:1120, 480:1250], reference[450:, 480:])
    with PlateReader(local_plate_store().path_of(plate.data_file)) as reader:
        box = reader.read_box(495, 1005, 495, 1005)  # four blocks meet at (500, 500)
        assert_array_equal(box.data, reference[495:1005, 495:1005])
    assert np.abs(reference.astype(int) - pixels).max() < 4 * SCALE  # lossy, as on the discs


@pytest.mark.django_db
def test_a_field_across_block_corners_is_cut_pixel_for_pixel_and_listed_in_mode_n(
    media, make_user, django_capture_on_commit_callbacks
):
    run("--media", str(media))
    geometry = PlateGeometry(real_plate_header())
    ra, dec = (float(v) for v in geometry.pixel_to_sky(999.5, 499.5))  # a block corner
    position = f"{sexagesimal_ra(ra)} {sexagesimal_dec(dec)}"
    with django_capture_on_commit_callbacks(execute=True):
        outcome = request_create_from_text(
            user=make_user(), text=f"corner {position} 3 3 J2000 DSS1 0025 U", source="web"
        )
    field = outcome.request.fields.get()
    assert field.status == "done", field.message
    payload = (field.request.staging.absolute_path / field.output_name).read_bytes()
    with fits.open(io.BytesIO(payload), do_not_scale_image_data=True) as hdul:
        x0, y0 = hdul[0].header["CNPIX1"], hdul[0].header["CNPIX2"]
        ny, nx = hdul[0].data.shape
        assert x0 < 1000 < x0 + nx and y0 < 500 < y0 + ny
        assert_array_equal(hdul[0].data, decoded_mosaic(media)[y0 : y0 + ny, x0 : x0 + nx])
        assert hdul[0].header["PLATEID"] == "0025" and hdul[0].header["REGION"] == "S134"
    table = plates_table(FieldTarget("DSS1", "n", "", ra, dec, 3.0, 3.0))
    assert "0025" in table and "S134" in table and table.rstrip().endswith("yes")


@pytest.mark.django_db
def test_a_second_run_skips_stored_plates_and_a_dry_run_changes_nothing(media, plates_dir):
    out, _ = run("--media", str(media), "--dry-run")
    assert "s134: plate 0025: would be imported (DSS1, 9 blocks" in out
    assert "2 listed plate(s) have no blocks" in out
    assert not Plate.objects.exists() and not plates_dir.exists()
    run("--media", str(media))
    stored = plates_dir / "DSS1" / "0025.fits"
    before = stored.stat()
    out, _ = run("--media", str(media))
    assert "s134: plate 0025 already stored, skipped" in out
    assert "Imported 0 plate(s), 1 already stored" in out
    assert stored.stat().st_mtime_ns == before.st_mtime_ns and Plate.objects.count() == 1
    out, _ = run("--media", str(media), "--dry-run")
    assert "already stored here, would be skipped" in out
    stored.unlink()  # a catalogued plate whose file went missing is imported again
    out, _ = run("--media", str(media))
    assert "s134: DSS1 plate 0025 imported" in out and stored.exists()


@pytest.mark.django_db
def test_a_corrupt_block_names_plate_and_block_and_nothing_is_registered(media, plates_dir):
    bad = next((media / "S134").glob("S134.12*"))
    stream = bad.read_bytes()
    bad.write_bytes(stream[:21] + bytes(len(stream) - 21))
    truncated = next((media / "S134").glob("S134.21*"))
    truncated.write_bytes(truncated.read_bytes()[:-40])
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 plate"):
        call_command("import_plates", "--media", str(media), "--jobs", "2", stdout=out, stderr=err)
    message = err.getvalue()
    assert "plate 0025 (s134)" in message and "block s134.12" in message
    assert f"block s134.21 ({truncated}): is truncated" in message
    assert str(bad) in message and "does not decode" in message
    assert not Plate.objects.exists()
    assert not list(plates_dir.rglob("*.fits")) and not list(plates_dir.rglob("*.part"))


@pytest.mark.django_db
def test_missing_header_or_blocks_are_reported_and_nothing_is_registered(media, tmp_path):
    disc_without_headers = tmp_path / "copy"
    (media / "S134").rename(disc_without_headers)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_plates", "--media", str(tmp_path / "copy"), stdout=out, stderr=err)
    assert "no plate header s134.hhh (give the headers directory too)" in err.getvalue()
    assert not Plate.objects.exists()
    os.remove(next(disc_without_headers.glob("S134.21*")))
    out, _ = run("--media", str(disc_without_headers), str(media / "HEADERS"), "--dry-run")
    assert "cannot be imported: 1 of 9 blocks missing: s134.21" in out


@pytest.mark.django_db
def test_what_an_interrupted_import_left_behind_does_not_block_the_next(media, plates_dir):
    (plates_dir / "DSS1").mkdir(parents=True)
    orphan = plates_dir / "DSS1" / ".0025.fits.0123456789ab.part"
    orphan.write_bytes(b"half a plate")  # what a process killed mid-write leaves
    assert "plate 0025 imported" in run("--media", str(media))[0]
    assert local_plate_store().path_of(Plate.objects.get().data_file).stat().st_size > 2880
    # ... and the next successful import of that plate removes it (nobody holds it).
    assert {p.name for p in (plates_dir / "DSS1").iterdir()} == {"0025.fits"}


@pytest.mark.django_db
def test_catalogue_only_registers_listed_plates_offline_and_requests_say_so(
    media, make_user, django_capture_on_commit_callbacks
):
    out, _ = run("--media", str(media / "HEADERS"), "--catalogue-only", "--dry-run")
    assert "s134: plate 0025: would be catalogued from its header" in out
    assert "xe355: plate 04IN: would be catalogued from its plate list (nominal)" in out
    assert not Plate.objects.exists()
    out, _ = run("--media", str(media / "HEADERS"), "--catalogue-only")
    assert "Catalogued 3 plate(s)" in out
    plates = {p.plate_id: p for p in Plate.objects.all()}
    assert set(plates) == {"0025", "04IN", "0999"} and not any(p.online for p in plates.values())
    # The plate with a header has its real solution; the others a nominal one at the centre.
    assert fits.Header.fromstring(plates["0025"].header)["AMDX2"] == real_plate_header()["AMDX2"]
    assert (plates["04IN"].ra_deg, plates["04IN"].dec_deg) == pytest.approx((150.0, 20.0), abs=1e-3)
    assert plates["04IN"].region == "XE355"
    assert (plates["04IN"].band, plates["0999"].band) == ("R", "B")  # POSS-E, SERC-J
    table = plates_table(FieldTarget("DSS1", "n", "", 150.0, 20.0, 5.0, 5.0))
    assert "04IN" in table and table.rstrip().endswith("no")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = request_create_from_text(
            user=make_user(), text="m 10 00 00 +20 00 00 3 3 J2000 DSS1 04IN U", source="web"
        )
    field = outcome.request.fields.get()
    assert field.status == "skipped" and "not online" in field.message
    # Importing the pixels afterwards brings the plate online under the same row.
    run("--media", str(media))
    assert Plate.objects.get(plate_id="0025").online and Plate.objects.count() == 3


@pytest.mark.django_db
def test_the_fits_contract_is_unchanged_and_media_options_need_media(tmp_path):
    out, _ = run(DSS_SCAN)
    assert "DSS1 plate 0025 (S134)" in out
    with pytest.raises(CommandError, match="go with --media"):
        run(DSS_SCAN, "--dry-run")
    with pytest.raises(CommandError, match="--jobs must be at least 1"):
        run("--media", str(tmp_path), "--jobs", "0")
    with pytest.raises(CommandError, match="no plate directories"):
        run("--media", str(tmp_path))


@pytest.mark.django_db
def test_the_media_plate_replaces_a_partial_fits_scan_of_the_same_plate(media):
    run(DSS_SCAN)  # astropy's real scan is a 100x100 piece of this very plate, 0025 (S134)
    assert Plate.objects.get().width_px == 100
    out, _ = run("--media", str(media))
    assert "s134: DSS1 plate 0025 imported, 1250x1120 px" in out
    plate = Plate.objects.get()
    assert (plate.x0, plate.width_px, plate.height_px) == (0, COLS, ROWS)


@pytest.mark.django_db
def test_blocks_that_do_not_fit_the_header_size_are_refused(media, tmp_path):
    headers = tmp_path / "other-headers"
    headers.mkdir()
    (headers / "s134.hhh").write_bytes(hhh_bytes(real_plate_header(rows=1100)))
    (media / "HEADERS" / "S134.HHH;1").unlink()
    list_file = media / "HEADERS" / "LO_COMP.LIS"
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_plates",
            "--media",
            str(media / "S134"),
            str(headers / "s134.hhh"),
            str(list_file),
            stdout=out,
            stderr=err,
        )
    assert "block s134.20" in err.getvalue()
    expected = "holds 120x500 pixels where the plate header (NAXIS1 1250, NAXIS2 1100) needs"
    assert f"{expected} 100x500" in err.getvalue()
    assert "2 listed plate(s) have no blocks in these paths" in out.getvalue()
    assert not Plate.objects.exists()


# -- Several copies of a plate ------------------------------------------------------------


def _copy_disc(media: Path, to: Path) -> Path:
    shutil.copytree(media, to)
    return to


@pytest.mark.django_db
def test_an_incomplete_first_copy_does_not_block_a_complete_one_on_another_disc(
    media, tmp_path, plates_dir
):
    first = _copy_disc(media, tmp_path / "disc1")
    os.remove(next((first / "S134").glob("S134.11*")))
    second = _copy_disc(media, tmp_path / "disc2")
    out, err = run("--media", str(first), str(second))
    assert "s134: DSS1 plate 0025 imported" in out
    said = out + err
    assert f"{first / 'S134'} lacks 1 block(s); using {second / 'S134'}" in said
    assert Plate.objects.get().online


@pytest.mark.django_db
def test_two_complete_copies_that_differ_are_reported(media, tmp_path):
    first = _copy_disc(media, tmp_path / "disc1")
    second = _copy_disc(media, tmp_path / "disc2")
    block = next((second / "S134").glob("S134.00*"))
    block.write_bytes(block.read_bytes() + b"\0" * 16)
    out, err = run("--media", str(first), str(second), "--dry-run")
    assert f"the copies in {first / 'S134'} and {second / 'S134'} differ" in out + err


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:The following header keyword is invalid")
def test_a_broken_header_copy_does_not_hide_a_good_one(media, tmp_path):
    broken = tmp_path / "a-headers"
    broken.mkdir()
    (broken / "S134.HHH").write_bytes(b"this is not a header")
    out, err = run("--media", str(broken), str(media))
    assert "s134: DSS1 plate 0025 imported" in out
    assert f"{broken / 'S134.HHH'}" in out + err and "another copy of the header is used" in (
        out + err
    )


@pytest.mark.django_db
def test_the_same_plate_id_under_another_region_is_named_not_skipped(media, tmp_path):
    other = real_plate_header()
    other["REGION"] = "S999"
    headers = tmp_path / "other-headers"
    headers.mkdir()
    (headers / "S999.HHH").write_bytes(hhh_bytes(other))
    run("--media", str(headers), "--catalogue-only")
    assert Plate.objects.get().region == "S999"
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_plates", "--media", str(media), stdout=out, stderr=err)
    said = out.getvalue() + err.getvalue()
    assert "catalogued here under region S999, but this header says region S134" in said
    assert "already stored, skipped" not in said
