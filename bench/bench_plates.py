"""Plate store (issue 4): a box read decompresses only its tiles; memory stays bounded.

Prints, for a full-size synthetic DSS2 plate (23040^2 px, RICE_1, 500x500 tiles):
- a 600x600 box read against reading the whole plate (the ratio is the point);
- peak RSS of a fresh process reading a 3600x3600 box (target: under 400 MB).
"""

from __future__ import annotations

import subprocess
import sys

from _common import ROOT, best_of, full_dss2_plate

sys.path.insert(0, str(ROOT))

from astropy.io import fits

from extraction.core.platestore import PlateReader

# VmHWM (not ru_maxrss, which a child inherits from a large parent across fork and exec).
PROBE = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from _common import peak_rss_mb as hwm
from extraction.core.platestore import PlateReader
base = hwm()
reader = PlateReader({path!r})
box = reader.read_box(9000, 12600, 9000, 12600)
print(hwm(), base)
"""


def main() -> None:
    path = full_dss2_plate()
    reader = PlateReader(path)
    box = best_of(lambda: reader.read_box(11000, 11600, 11000, 11600), repeat=7)

    def whole() -> None:
        with fits.open(path) as hdul:
            hdul[1].data.sum()

    print("reading the whole plate once (this takes a while) ...", flush=True)
    full = best_of(whole, repeat=1)
    print(f"600x600 box read:   {box * 1000:8.1f} ms")
    print(f"whole-plate read:   {full * 1000:8.1f} ms")
    print(f"ratio whole / box:  {full / box:8.0f}x")

    probe = PROBE.format(root=str(ROOT), bench=str(ROOT / "bench"), path=str(path))
    output = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    peak, start = float(output[0]), float(output[1])
    verdict = "met" if peak < 400 else "NOT met"
    print(
        f"3600x3600 box read: peak RSS {peak:.0f} MB (after imports {start:.0f} MB); "
        f"target < 400 MB {verdict}"
    )


if __name__ == "__main__":
    main()
