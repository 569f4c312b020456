"""An all-sky picture of plate outlines (SVG), for the operators' admin page.

Pure numpy; no Django. Outlines come from each plate's centre and digitized extent with the
nominal scale, projected gnomonically; rotation and distortion (under a few arcmin across a
plate) are ignored, which is plenty for a map 1000 pixels wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

from extraction.core.sky import gnomonic_deproject_deg


@dataclass(frozen=True)
class PlateOutline:
    plate_id: str
    ra_deg: float
    dec_deg: float
    scale_arcsec: float
    x0: int
    y0: int
    width_px: int
    height_px: int
    plate_size_px: int
    online: bool


def outline_radec(plate: PlateOutline, points_per_side: int = 6) -> npt.NDArray[np.float64]:
    """(N, 2) RA/Dec degrees around the digitized area (DSS plate x grows westward)."""
    half = plate.plate_size_px / 2.0
    t = np.linspace(0.0, 1.0, points_per_side, endpoint=False)
    x0, x1 = plate.x0 - half, plate.x0 + plate.width_px - half
    y0, y1 = plate.y0 - half, plate.y0 + plate.height_px - half
    xs = np.concatenate(
        [x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)]
    )
    ys = np.concatenate(
        [np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t]
    )
    scale = np.radians(plate.scale_arcsec / 3600.0)
    ra, dec = gnomonic_deproject_deg(plate.ra_deg, plate.dec_deg, -xs * scale, ys * scale)
    return np.column_stack([ra, dec])


def sky_map_svg(outlines: Sequence[PlateOutline], *, width: int = 1080, title: str = "") -> str:
    """Plate carrée map, RA 360..0 deg left to right (east to the left, as on the sky)."""
    height = width // 2
    sx, sy = width / 360.0, height / 180.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 20}" '
        f'width="{width}" height="{height + 20}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#0b1020"/>',
    ]
    for ra_line in range(0, 361, 30):
        x = (360 - ra_line) * sx
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#2a3350"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height + 14}" font-size="10" fill="#555" '
            f'text-anchor="middle">{ra_line // 15}h</text>'
        )
    for dec in range(-60, 61, 30):
        y = (90 - dec) * sy
        parts.append(f'<line x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#2a3350"/>')
    for plate in outlines:
        radec = outline_radec(plate)
        ra = radec[:, 0]
        if ra.max() - ra.min() > 180:  # straddles RA 0: draw on the side of the centre
            ra = np.where(
                ra - plate.ra_deg > 180, ra - 360, np.where(plate.ra_deg - ra > 180, ra + 360, ra)
            )
        points = " ".join(
            f"{(360 - r) * sx:.1f},{(90 - d) * sy:.1f}"
            for r, d in zip(ra, radec[:, 1], strict=True)
        )
        fill = "#f2c14e" if plate.online else "none"
        opacity = "0.8" if plate.online else "0.5"
        parts.append(
            f'<polygon points="{points}" fill="{fill}" fill-opacity="{opacity}" '
            f'stroke="#7fa7e0" stroke-opacity="{opacity}" stroke-width="0.6">'
            f"<title>{escape(plate.plate_id)}{' (online)' if plate.online else ''}</title>"
            "</polygon>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
