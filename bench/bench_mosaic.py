"""Mosaic (mode m) bench: time against reproject alone, and peak memory.

1. A 30'x30' DSS2 mosaic from 2 full-size plates (23040 x 23040, RICE_1, 500x500 tiles),
   against the baseline measured in the same run: ``reproject_interp`` alone (same settings:
   bilinear, no round trip) of each plate's box of the field, already read, onto the same
   grid. Target: mosaic / reproject <= 1.5.
2. Peak RSS of a fresh process that builds and serialises a 60'x60' mosaic from 4 full-size
   plates (each covering the whole field). Target: < 600 MB.

The plates are synthetic DSS2 red plates (real synthetic headers, pixels of background plus
each plate's own offset plus noise), at (+-2.6 deg / cos dec, +-2.6 deg) from the field, built
once into bench/out/ (about 20 s and 1 GB of memory each).

    .venv/bin/python bench/bench_mosaic.py
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time
from pathlib import Path

from _common import OUT, ROOT, best_of, peak_rss_mb

FIELD_RA, FIELD_DEC = 30.0, 10.0
#: Plate centres from the field centre, degrees (east, north): the four corners.
CORNERS = {"NE": (2.6, 2.6), "NW": (-2.6, 2.6), "SE": (2.6, -2.6), "SW": (-2.6, -2.6)}
OFFSETS = {"NE": 0, "NW": 120, "SE": -80, "SW": 200}


def plate_path(corner: str) -> Path:
    """A full-size synthetic DSS2 plate centred at ``CORNERS[corner]`` from the field."""
    import numpy as np

    from extraction import synthetic
    from extraction.core.platestore import write_plate

    path = OUT / f"mosaic-DSS2-{corner}-full.fits"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    east, north = CORNERS[corner]
    model = next(s for s in synthetic.survey_catalogue("DSS2") if s.band == "R")
    spec = dataclasses.replace(
        model,
        plate_id=f"M{corner}",
        ra_deg=FIELD_RA + east / math.cos(math.radians(FIELD_DEC)),
        dec_deg=FIELD_DEC + north,
    )
    print(f"building full-size plate {spec.plate_id} once, into {path} ...", flush=True)
    started = time.perf_counter()
    rng = np.random.default_rng(len(corner) + ord(corner[1]))
    data = rng.integers(0, 48, size=(spec.naxis, spec.naxis), dtype=np.int16)
    data += np.int16(3000 + OFFSETS[corner])
    write_plate(path, data, synthetic.plate_header(spec))
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def opened(corners: list[str]) -> list:
    from extraction.core.mosaic import MosaicPlate
    from extraction.core.plates import PlateGeometry
    from extraction.core.platestore import PlateReader

    plates = []
    for corner in corners:
        reader = PlateReader(plate_path(corner))
        plates.append(MosaicPlate(f"M{corner}", "", None, reader, PlateGeometry(reader.header)))
    return plates


def timing() -> tuple[float, float, float]:
    """(reproject alone, mosaic build, mosaic build + FITS bytes), best of 3, seconds."""
    import numpy as np
    from reproject import reproject_interp

    from extraction.core import mosaic as M

    plates = opened(["NE", "SW"])
    grid = M.mosaic_grid(FIELD_RA, FIELD_DEC, 30.0, 30.0, "DSS2")
    boxes = []
    for plate in plates:
        box = M.plate_box_of_grid(grid, plate)
        assert box is not None
        read = plate.source.read_box(*box)
        boxes.append((read.data.astype(np.float32), M.plate_box_wcs(plate.geometry, *box)))
    print(f"grid {grid.nx} x {grid.ny}; plate boxes {[b[0].shape for b in boxes]}")

    def reproject_alone() -> None:
        for data, wcs in boxes:
            reproject_interp(
                (data, wcs),
                grid.wcs,
                shape_out=grid.shape,
                order="bilinear",
                roundtrip_coords=False,
                return_footprint=False,
            )

    def build() -> M.Mosaic:
        return M.mosaic_build(grid, plates)

    def build_and_write() -> None:
        made = build()
        M.mosaic_fits_bytes(
            made,
            M.mosaic_header(
                made, identifier="b", ra_deg=FIELD_RA, dec_deg=FIELD_DEC, survey="DSS2"
            ),
        )

    made = build()
    print(
        f"plates used {[p.plate_id for p in made.plates]}, pixels {made.pixels}, "
        f"offsets {[round(o, 1) for o in made.offsets]}"
    )
    return best_of(reproject_alone, 3), best_of(build, 3), best_of(build_and_write, 3)


def rss_child() -> None:
    """In a fresh process: a 60'x60' mosaic from 4 plates, serialised; print peak RSS."""
    from extraction.core import mosaic as M

    plates = opened(list(CORNERS))
    before = peak_rss_mb()
    grid = M.mosaic_grid(FIELD_RA, FIELD_DEC, 60.0, 60.0, "DSS2")
    started = time.perf_counter()
    made = M.mosaic_build(grid, plates)
    payload = M.mosaic_fits_bytes(
        made,
        M.mosaic_header(made, identifier="b", ra_deg=FIELD_RA, dec_deg=FIELD_DEC, survey="DSS2"),
    )
    elapsed = time.perf_counter() - started
    print(
        f"{grid.nx} x {grid.ny} from {len(made.plates)} plates in {elapsed:.1f} s, "
        f"{len(payload) / 1e6:.0f} MB FITS; peak RSS {peak_rss_mb():.0f} MB "
        f"(after imports and opening the plates: {before:.0f} MB)"
    )


def main() -> None:
    for corner in CORNERS:
        plate_path(corner)  # built (once) before anything is measured
    alone, build, written = timing()
    print(
        f"30'x30' DSS2 from 2 full-size plates: reproject alone {alone:.2f} s, "
        f"mosaic {build:.2f} s (ratio {build / alone:.2f}, target <= 1.5), "
        f"with FITS bytes {written:.2f} s (ratio {written / alone:.2f})"
    )
    child = subprocess.run(
        [sys.executable, __file__, "--rss-child"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    print(
        "60'x60' DSS2 from 4 full-size plates (fresh process):",
        child.stdout.strip(),
        "(target < 600 MB)",
    )


if __name__ == "__main__":
    if "--rss-child" in sys.argv:
        rss_child()
    else:
        main()
