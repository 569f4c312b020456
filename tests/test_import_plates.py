"""``import_plates`` and the plate services, on the real DSS scan shipped with astropy."""

from __future__ import annotations

import warnings
from datetime import date
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.utils.data import get_pkg_data_filename
from django.core.management import CommandError, call_command
from numpy.testing import assert_array_equal

from extraction.core.platestore import PlateReader, write_plate
from extraction.models import Plate
from extraction.services.plates import (
    PlateImportError,
    band_from_header,
    date_from_header,
    plate_geometry,
    plate_import_file,
    plate_register,
    plates_for_survey,
)

DSS_SCAN = get_pkg_data_filename("data/dss.14.29.56-62.41.05.fits.gz", package="astropy.wcs.tests")


@pytest.fixture(autouse=True)
def plates_dir(settings, tmp_path: Path) -> Path:
    settings.PLATES_DIR = tmp_path / "plates"
    return settings.PLATES_DIR


@pytest.fixture(scope="module")
def scan() -> tuple[fits.Header, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SKEW card is not standard FITS
        with fits.open(DSS_SCAN) as hdul:
            return hdul[0].header.copy(), hdul[0].data.copy()


@pytest.fixture
def not_dss(tmp_path: Path) -> Path:
    path = tmp_path / "ccd.fits"
    header = fits.Header()
    header["OBJECT"] = "M31"
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    fits.PrimaryHDU(np.zeros((20, 30), np.int16), header).writeto(path)
    return path


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_plates", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_imports_astropys_real_dss_scan(plates_dir, scan):
    out, _ = run(DSS_SCAN)
    assert "DSS1 plate 0025 (S134)" in out
    plate = Plate.objects.get()
    assert (plate.survey, plate.plate_id, plate.region, plate.label) == (
        "DSS1",
        "0025",
        "S134",
        "J 2098",
    )
    assert plate.band == "B"  # a SERC J plate
    assert plate.telescope == "UK 48-inch Schmidt"
    assert plate.date_obs == date(1976, 3, 11)
    assert plate.epoch == pytest.approx(1976.1932373047)
    assert plate.exposure_min == 70.0
    assert (plate.ra_deg, plate.dec_deg) == pytest.approx((219.445343875, -60.2164687806))
    assert plate.pixel_scale_arcsec == pytest.approx(1.6991, abs=1e-4)
    assert (plate.x0, plate.y0, plate.width_px, plate.height_px) == (8860, 1708, 100, 100)
    assert (plate.plate_width_px, plate.plate_height_px) == (14000, 14000)
    assert plate.online and not plate.synthetic
    assert plate.data_file == "DSS1/0025.fits"

    header, data = scan
    with PlateReader(plates_dir / "DSS1" / "0025.fits") as reader:
        assert reader.compressed
        assert_array_equal(reader.read_box(0, 100, 0, 100).data, data)
        assert reader.header["AMDX1"] == header["AMDX1"]


@pytest.mark.django_db
def test_imported_plate_geometry_finds_the_object(scan):
    header, _ = scan
    plate = plate_import_file(path=DSS_SCAN)
    geometry = plate_geometry(plate)
    assert plate_geometry(plate) is geometry  # cached
    target = SkyCoord(header["OBJCTRA"], header["OBJCTDEC"], unit=(u.hourangle, u.deg))
    cov = geometry.coverage(target.ra.deg, target.dec.deg, 1.0, 1.0)
    assert cov.full and cov.centre_inside
    # OBJCTX/Y are full-plate pixels: the box is centred there to within half a pixel.
    x, y = geometry.plate_to_pixel(header["OBJCTX"], header["OBJCTY"])
    assert abs(cov.box.centre[0] - x) <= 0.6 and abs(cov.box.centre[1] - y) <= 0.6
    assert geometry.coverage(target.ra.deg, target.dec.deg, 5.0, 5.0).fraction < 1


@pytest.mark.django_db
def test_reimport_updates_and_never_duplicates():
    first = plate_import_file(path=DSS_SCAN)
    Plate.objects.filter(pk=first.pk).update(label="stale", band="")
    run(DSS_SCAN)
    run(DSS_SCAN, "--survey", "dss1")
    plate = Plate.objects.get()
    assert plate.pk == first.pk and plate.label == "J 2098" and plate.band == "B"
    assert list(plates_for_survey(survey="DSS1")) == [plate]
    assert not plates_for_survey(survey="DSS2").exists()


@pytest.mark.django_db
def test_a_non_dss_fits_is_refused_and_the_good_files_still_import(not_dss, tmp_path):
    with pytest.raises(CommandError, match="1 of 2 files not imported"):
        out, err = StringIO(), StringIO()
        try:
            call_command("import_plates", str(not_dss), DSS_SCAN, stdout=out, stderr=err)
        finally:
            assert "not a DSS plate scan" in err.getvalue()
            assert "missing keywords PLTRAH, PLTRAM, " in err.getvalue()
            assert "PPO3, PPO6, XPIXELSZ, YPIXELSZ, AMDX1-AMDX13, AMDY1-AMDY13)" in err.getvalue()
            assert str(not_dss) in err.getvalue()
    assert Plate.objects.get().plate_id == "0025"
    assert sorted(p.name for p in (tmp_path / "plates" / "DSS1").iterdir()) == ["0025.fits"]


@pytest.mark.django_db
def test_files_that_are_not_fits_or_missing_are_reported(tmp_path):
    junk = tmp_path / "notes.fits"
    junk.write_text("not a FITS file at all\n" * 200)
    with pytest.raises(PlateImportError, match="cannot read as FITS"):
        plate_import_file(path=junk)
    with pytest.raises(PlateImportError, match="cannot read"):
        plate_import_file(path=tmp_path / "absent.fits")
    assert not Plate.objects.exists()


@pytest.mark.django_db
def test_survey_must_agree_with_the_pixel_size(scan, tmp_path):
    with pytest.raises(PlateImportError, match="a DSS1 scan, not DSS2"):
        plate_import_file(path=DSS_SCAN, survey="DSS2")
    header, data = scan
    odd = header.copy()
    odd["XPIXELSZ"] = odd["YPIXELSZ"] = 10.0
    path = tmp_path / "odd.fits"
    fits.PrimaryHDU(data, odd).writeto(path, output_verify="silentfix")
    with pytest.raises(PlateImportError, match=r"neither DSS1 .* nor DSS2"):
        plate_import_file(path=path)
    assert not Plate.objects.exists()


@pytest.mark.django_db
def test_tile_compressed_and_directory_input(scan, tmp_path):
    header, data = scan
    folder = tmp_path / "incoming"
    folder.mkdir()
    write_plate(folder / "s134_0025.fits", data, header, compression="HCOMPRESS_1", tile=(50, 50))
    (folder / "README.txt").write_text("ignored")
    out, _ = run(str(folder))
    assert "Imported 1 file(s)." in out
    assert Plate.objects.get().width_px == 100


@pytest.mark.django_db
def test_register_offline_keeps_an_online_plate_online(scan):
    header, _ = scan
    online = plate_import_file(path=DSS_SCAN)
    catalogue = header.copy()
    catalogue["REGION"] = "S134X"
    plate = plate_register(header=catalogue, synthetic=False)
    assert plate.pk == online.pk and plate.online and plate.region == "S134X"
    assert (plate.x0, plate.width_px, plate.data_file) == (8860, 100, "DSS1/0025.fits")

    other = header.copy()
    other["PLATEID"] = "0026"
    offline = plate_register(header=other, synthetic=True)
    assert not offline.online and offline.synthetic and offline.data_file == ""
    assert (offline.x0, offline.y0, offline.width_px, offline.height_px) == (0, 0, 14000, 14000)
    geometry = plate_geometry(offline)
    assert geometry.area.nx == 14000


def test_band_and_date_from_headers():
    def header(**cards: str) -> fits.Header:
        h = fits.Header()
        for key, value in cards.items():
            h[key] = value
        return h

    assert band_from_header(header(EMULSION="IIIaJ", FILTER="GG395")) == "B"
    assert band_from_header(header(EMULSION="IIIa-F", FILTER="RG610")) == "R"
    assert band_from_header(header(EMULSION="103aE", FILTER="red plexi")) == "R"
    assert band_from_header(header(EMULSION="IV-N", FILTER="RG9")) == "I"
    assert band_from_header(header(PLTLABEL="E 1234")) == "R"
    assert band_from_header(header()) == ""
    assert date_from_header("11/03/76") == date(1976, 3, 11)
    assert date_from_header("1992-05-04T07:31:00") == date(1992, 5, 4)
    assert date_from_header("31/02/76") is None
    assert date_from_header("") is None


#: Commentary in the style of the UK Schmidt / ROE / AAO plate headers (our own words).
ACKNOWLEDGEMENT = [
    f"Plate scanned for a survey archive; acknowledgement line {n:02d}." for n in range(13)
]


@pytest.mark.django_db
def test_blank_keyword_commentary_cards_survive_import_into_the_tile_store(
    plates_dir, scan, tmp_path
):
    """astropy's CompImageHDU drops the text of blank-keyword cards: every one is kept, in
    order, and reaches the cut-outs' headers."""
    from extraction.core.cutout import plate_card_images

    header, data = scan
    header = header.copy()
    for line in ACKNOWLEDGEMENT:
        header.add_blank(line, after=len(header) - 1)
    header["COMMENT"] = "an ordinary comment"
    source = tmp_path / "with-acknowledgement.fits"
    fits.PrimaryHDU(data, header).writeto(source, output_verify="silentfix")
    run(str(source))
    with PlateReader(plates_dir / "DSS1" / "0025.fits") as reader:
        blanks = [c.value for c in reader.header.cards if c.keyword == "" and c.value]
        comments = [c.value for c in reader.header.cards if c.keyword == "COMMENT"]
        images = "\n".join(plate_card_images(reader.header))
    # astropy's real DSS scan carries its own acknowledgement lines; ours follow them.
    assert blanks == [c.value for c in header.cards if c.keyword == "" and c.value]
    assert blanks[-len(ACKNOWLEDGEMENT) :] == ACKNOWLEDGEMENT
    assert "an ordinary comment" in comments
    for line in ACKNOWLEDGEMENT:
        assert line in images


@pytest.mark.django_db
def test_a_killed_imports_partial_file_is_removed_by_the_next_import_but_a_live_one_is_kept(
    plates_dir,
):
    import fcntl
    import os

    folder = plates_dir / "DSS1"
    folder.mkdir(parents=True)
    orphan = folder / ".0025.fits.dead0dead0dea.part"
    orphan.write_bytes(b"\0" * 4096)
    live = folder / ".0025.fits.11ve11ve11ve.part"
    live.write_bytes(b"\0" * 4096)
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a writer that is still at work holds it
    try:
        run(DSS_SCAN)
        assert not orphan.exists()
        assert live.exists()
    finally:
        os.close(fd)
    assert (folder / "0025.fits").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("plate_id", "why"), [("T025", "REGION-ID"), ("XE426", "REGION-ID"), ("0_25", "2-6 letters")]
)
def test_a_plate_id_no_request_list_could_name_is_refused_at_import(
    scan, tmp_path, plate_id: str, why: str
):
    """One rule at import and in lists: what imports can be asked for by a list."""
    from extraction.text.requestlist import parse_request_list as parse_request

    header, data = scan
    header = header.copy()
    header["PLATEID"] = plate_id
    source = tmp_path / "renamed.fits"
    fits.PrimaryHDU(data, header).writeto(source, output_verify="silentfix")
    with pytest.raises(PlateImportError, match=why):
        plate_import_file(path=source)
    assert not Plate.objects.exists()
    listed = parse_request(f"f 14 29 56 -62 41 05 1. 1. J2000 DSS1 {plate_id} U")
    assert not listed.fields


@pytest.mark.django_db
def test_every_plate_id_that_imports_can_be_named_in_a_list(scan, tmp_path):
    from extraction.text.requestlist import parse_request_list as parse_request

    header, data = scan
    for plate_id in ("04IN", "0025", "XJ42", "A1234"):
        header = header.copy()
        header["PLATEID"] = plate_id
        source = tmp_path / f"{plate_id}.fits"
        fits.PrimaryHDU(data, header).writeto(source, output_verify="silentfix")
        assert plate_import_file(path=source).plate_id == plate_id
        (field,) = parse_request(f"f 14 29 56 -62 41 05 1. 1. J2000 DSS1 {plate_id} U").fields
        assert field.plate_id == plate_id
