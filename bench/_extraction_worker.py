"""Helper of bench_extraction.py: cut one 60'x60' field in a fresh process, report VmHWM."""

from __future__ import annotations

from pathlib import Path


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run(path: Path, ra: float, dec: float, data: Path) -> float:
    from extraction.core.cutout import cutout_build, fits_bytes, write_atomically
    from extraction.core.platestore import open_plate

    plate = open_plate(path)
    box = plate.geometry.coverage(ra, dec, 60, 60).box
    assert box is not None
    pixels = plate.reader.read_box(box.x0, box.x1, box.y0, box.y1)
    cutout = cutout_build(
        geometry=plate.geometry,
        plate_header=plate.reader.header,
        pixels=pixels,
        box=box,
        identifier="big",
        ra_deg=ra,
        dec_deg=dec,
    )
    write_atomically(data / "big.fits", fits_bytes(cutout), scratch=data / ".partial")
    return _hwm_mb()
