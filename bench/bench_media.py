"""Plates from the original DSS media (issue 11): import, disk, and a field against its floor.

Builds once, in bench/out/ (not in git), a full-size 14000x14000 synthetic DSS1 plate in the
layout of the discs: 784 H-compressed 500x500 blocks (lossy, at the scale that gives the
DSS1 discs' ~10x) in a plate directory, and its ``.hhh`` header. Then prints:

  1. ``import_plates --media`` time for the plate (one process, and ``--jobs 2``) and the
     disk it takes: the disc blocks,
     the stored plate file (the blocks as HCOMPRESS_1 tiles, unchanged), and a RICE_1
     transcode of the same pixels (decode every block, re-encode losslessly) with its time;
  2. a 10'x10' field (uncompressed output, centred where four blocks meet) cut from the
     imported plate, against the floor (decode exactly the touched blocks, already in
     memory, and write the bytes), and the same field cut from the RICE_1 transcode.

Ratios are measured in the same run; absolute times on a shared machine are noise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _common import OUT, ROOT, best_of, django_setup
from _extraction_worker import cut_field

sys.path.insert(0, str(ROOT))

import numpy as np

from extraction import synthetic
from extraction.core.files import write_atomically
from extraction.core.media.blocks import BLOCK_SIZE, decode_block, encode_block
from extraction.core.media.layout import block_suffix, scan_media
from extraction.core.media.mastering import hhh_bytes, write_plate_blocks
from extraction.core.media.reader import MediaPlateReader
from extraction.core.media.texts import read_hhh
from extraction.core.plates import PlateGeometry
from extraction.core.platestore import open_plate, write_plate

TARGET_RATIO = 10.0  # the DSS1 discs' compression


def _spec() -> synthetic.PlateSpec:
    return next(
        s
        for s in synthetic.survey_catalogue("DSS1")
        if abs(s.dec_deg - 30) < 4 and abs(s.ra_deg - 180) < 8
    )


def _scale_for(block: np.ndarray) -> int:
    """The smallest hcompress scale giving the discs' compression on a sample block."""
    for scale in (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256):
        if block.nbytes / len(encode_block(block, scale=scale)) >= TARGET_RATIO:
            return scale
    return 256


def build_media() -> tuple[Path, str]:
    """The disc (plate directory + headers) of a full synthetic DSS1 plate; built once."""
    spec = _spec()
    region = spec.region.lower()
    disc = OUT / f"media-DSS1-{spec.plate_id}"
    stamp = disc / "complete"
    if stamp.exists():
        return disc, region
    print(
        f"building a full-size DSS1 plate ({spec.plate_id}, {region}) in the media layout "
        f"once, into {disc} ...",
        flush=True,
    )
    started = time.perf_counter()
    header = synthetic.plate_header(spec)
    pixels = synthetic.render_plate_pixels(spec, header)
    scale = _scale_for(pixels[7000:7500, 7000:7500])
    write_plate_blocks(disc / region.upper(), region, pixels, scale=scale)
    (disc / "HEADERS").mkdir(parents=True, exist_ok=True)
    (disc / "HEADERS" / f"{region.upper()}.HHH").write_bytes(hhh_bytes(header))
    stamp.write_text(f"scale {scale}\n")
    print(f"  built in {time.perf_counter() - started:.0f} s (hcompress scale {scale})", flush=True)
    return disc, region


def _size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def floor_field(
    streams: dict[tuple[int, int], bytes], box: tuple[int, int, int, int], out: Path
) -> int:
    """Decode exactly the blocks the box touches (streams already read) and write the bytes."""
    x0, x1, y0, y1 = box
    data = np.empty((y1 - y0, x1 - x0), np.int16)
    for row in range(y0 // BLOCK_SIZE, (y1 - 1) // BLOCK_SIZE + 1):
        for col in range(x0 // BLOCK_SIZE, (x1 - 1) // BLOCK_SIZE + 1):
            block = decode_block(streams[(row, col)])
            by, bx = row * BLOCK_SIZE, col * BLOCK_SIZE
            ys, ye = max(y0, by), min(y1, by + block.shape[0])
            xs, xe = max(x0, bx), min(x1, bx + block.shape[1])
            data[ys - y0 : ye - y0, xs - x0 : xe - x0] = block[ys - by : ye - by, xs - bx : xe - bx]
    payload = np.ascontiguousarray(data, dtype=">i2").tobytes()
    return write_atomically(out, payload, scratch=out.parent / ".partial")


def main() -> None:
    disc, region = build_media()
    data_dir = django_setup()
    from django.core.management import call_command

    from extraction.models import Plate
    from extraction.services.platestores import local_plate_store

    blocks = [p for p in (disc / region.upper()).iterdir()]
    seconds = {}
    for jobs in (1, 2):
        Plate.objects.all().delete()  # so that the second run imports again
        started = time.perf_counter()
        call_command("import_plates", "--media", str(disc), "--jobs", str(jobs), verbosity=0)
        seconds[jobs] = time.perf_counter() - started
    # Each block is decoded twice (the truncation check): the default of one process per
    # core is what brings the import near the floor of decoding each block once.
    plate = Plate.objects.get(region__iexact=region)
    stored = local_plate_store().path_of(plate.data_file)
    raw_mb = 14000 * 14000 * 2 / 1e6
    started = time.perf_counter()
    for path in blocks:  # the floor: read and decode every block once, nothing else
        decode_block(path.read_bytes())
    floor_s = time.perf_counter() - started
    print(
        f"1. import_plates --media, one 14000x14000 DSS1 plate ({len(blocks)} blocks): "
        f"{seconds[1]:.1f} s (--jobs 2: {seconds[2]:.1f} s); floor (decode the "
        f"{len(blocks)} blocks alone, one process) {floor_s:.1f} s -> "
        f"{seconds[1] / floor_s:.2f}x the floor (--jobs 2: {seconds[2] / floor_s:.2f}x; goal "
        f"<= 1.3x); disc blocks {_size_mb(blocks):.1f} MB, stored plate "
        f"{_size_mb([stored]):.1f} MB (HCOMPRESS_1 tiles = the blocks), raw pixels "
        f"{raw_mb:.0f} MB"
    )

    scan = scan_media([disc])
    header = read_hhh(scan.headers[region])
    started = time.perf_counter()
    pixels = MediaPlateReader(scan.plates[region], header).read_box(0, 14000, 0, 14000).data
    rice = data_dir / "rice.fits"
    write_plate(rice, pixels, header, compression="RICE_1")
    rice_s = time.perf_counter() - started
    del pixels
    print(
        f"   RICE_1 transcode of the same pixels (lossless): {_size_mb([rice]):.1f} MB "
        f"({_size_mb([rice]) / _size_mb([stored]):.1f}x the HCOMPRESS_1 plate), "
        f"{rice_s:.1f} s to decode and re-encode"
    )

    geometry = PlateGeometry(header)
    ra, dec = (float(v) for v in geometry.pixel_to_sky(6999.5, 6999.5))  # four blocks meet
    opened = open_plate(stored)
    field = opened.geometry.coverage(ra, dec, 10, 10).box
    assert field is not None
    box = (field.x0, field.x1, field.y0, field.y1)
    touched = {
        (r, c)
        for r in range(field.y0 // BLOCK_SIZE, (field.y1 - 1) // BLOCK_SIZE + 1)
        for c in range(field.x0 // BLOCK_SIZE, (field.x1 - 1) // BLOCK_SIZE + 1)
    }
    streams = {rc: scan.plates[region].blocks[rc].read_bytes() for rc in touched}
    out = data_dir / "fields"
    out.mkdir()
    ours = best_of(lambda: cut_field(stored, ra, dec, 10, out / "a.fits"), repeat=15)
    floor = best_of(lambda: floor_field(streams, box, out / "b.fits"), repeat=15)
    from_rice = best_of(lambda: cut_field(rice, ra, dec, 10, out / "c.fits"), repeat=15)
    names = ", ".join(f"{region}.{block_suffix(*rc)}" for rc in sorted(touched))
    print(
        f"2. 10'x10' field ({field.x1 - field.x0}x{field.y1 - field.y0} px, blocks {names}), "
        f"uncompressed: from the imported plate {ours * 1000:.1f} ms; floor (decode the "
        f"{len(touched)} blocks + write) {floor * 1000:.1f} ms -> {ours / floor:.2f}x the floor; "
        f"from the RICE_1 transcode {from_rice * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
