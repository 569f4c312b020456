"""`manage.py synthesize_plates`: the synthetic sky in the catalogue and the store, and the
demo sky on which the three example lines of the original service are all served."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from django.core import mail
from django.core.management import CommandError, call_command

from extraction import synthetic
from extraction.core.platestore import PlateReader
from extraction.models import Field, Plate
from extraction.services.plates import plate_geometry
from extraction.services.platestores import local_plate_store
from extraction.services.requests import request_create_from_text

pytestmark = pytest.mark.django_db

EXAMPLE = (
    "field01 12      5       13      30      45      32      10.     10.     B1950   DSS1    e"
    "       G\n"
    "N7793   23      57      49.4    -32     35      24.     60.     60.     J2000   DSS1    04IN"
    "    U\n"
    "NGC253  0       47      34.3    -25     17      32.     45.     45.     J2000   DSS2    c"
    "       B\n"
)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("synthesize_plates", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_around_a_position_renders_every_plate_holding_it_and_catalogues_the_rest() -> None:
    output = run("--survey", "DSS1", "--around", "0 47 33 -25 17 18", "--extent", "400")
    catalogue = synthetic.survey_catalogue("DSS1")
    assert Plate.objects.filter(survey="DSS1").count() == len(catalogue)
    assert not Plate.objects.filter(survey="DSS2").exists()
    online = list(Plate.objects.filter(online=True))
    assert online and all(p.synthetic and p.survey == "DSS1" for p in online)
    assert f"{len(online)} scan(s) rendered" in output
    for plate in online:
        assert (plate.width_px, plate.height_px) == (400, 400)
        with PlateReader(local_plate_store().path_of(plate.data_file)) as reader:
            assert reader.header["SYNTHET"] is True
            assert reader.header["CNPIX1"] == plate.x0
            box = reader.read_box(0, 400, 0, 400)
            assert box.complete and box.data.std() > 0
        coverage = plate_geometry(plate).coverage(11.8875, -25.2883, 5, 5)
        assert coverage.full  # NGC 253 lies on every scan made around it
    # Re-running adds no plates and keeps the pixels.
    again = run("--survey", "DSS1")
    assert "0 synthetic plate(s) added" in again
    assert Plate.objects.filter(online=True).count() == len(online)


def test_a_named_plate_and_the_refusals() -> None:
    run("--survey", "DSS1", "--plate", "04IN", "--extent", "300")
    plate = Plate.objects.get(plate_id="04IN", online=True)
    assert plate.survey == "DSS1" and plate.region.startswith("S")
    with fits.open(local_plate_store().path_of(plate.data_file)) as hdul:
        assert hdul[1].header["PLATEID"].strip() == "04IN"
    with pytest.raises(CommandError, match="no synthetic DSS1 plate has this id"):
        run("--survey", "DSS1", "--plate", "ZZZZ")
    with pytest.raises(CommandError, match="not a plate id"):
        run("--plate", "../x")
    with pytest.raises(CommandError, match="give 'RA DEC'"):
        run("--around", "somewhere")
    with pytest.raises(CommandError, match="exclude each other"):
        run("--full", "--extent", "100")


def test_demo_sky_serves_the_three_example_lines(make_user, django_capture_on_commit_callbacks):
    run("--demo")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = request_create_from_text(user=make_user(), text=EXAMPLE, source="web")
    fields = {f.identifier: f for f in Field.objects.filter(request=outcome.request)}
    assert {f.status for f in fields.values()} == {"done"}, [f.message for f in fields.values()]
    assert fields["N7793"].plate.plate_id == "04IN"
    assert fields["field01"].plate.survey == "DSS1" and fields["NGC253"].plate.survey == "DSS2"
    assert not any(f.clipped for f in fields.values())
    directory = outcome.request.staging.absolute_path
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["N7793.fits", "NGC253.fits.bz2", "field01.fits.gz"]
    with fits.open(directory / "N7793.fits") as hdul:
        data = hdul[0].data
        # 60' at the plate's local scale (nominal 1.7"/px): about 2118 pixels a side.
        assert data.shape[0] == data.shape[1] and abs(data.shape[0] - 3600 / 1.7) <= 3
        # NGC 7793 itself is brighter than the sky around it.
        centre = data[1009:1109, 1009:1109].astype(float).mean()
        corner = data[:200, :200].astype(float).mean()
        assert centre > corner + 3 * np.std(data[:200, :200])
    assert "3 of 3 field(s) ready" in mail.outbox[-1].subject
