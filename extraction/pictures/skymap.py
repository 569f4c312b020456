"""Pictures of plate outlines (SVG): the whole sky for the operators, one field for users.

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

from extraction.core.sky import gnomonic_deproject_deg, gnomonic_project_deg


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
    return outlines_radec([plate], points_per_side)[0]


def outline_centre(plate: PlateOutline) -> tuple[float, float]:
    """RA, Dec in degrees of the middle of the digitized area (not the plate centre, for a
    partial scan)."""
    half = plate.plate_size_px / 2.0
    scale = np.radians(plate.scale_arcsec / 3600.0)
    x = plate.x0 + plate.width_px / 2.0 - half
    y = plate.y0 + plate.height_px / 2.0 - half
    ra, dec = gnomonic_deproject_deg(plate.ra_deg, plate.dec_deg, -x * scale, y * scale)
    return float(ra), float(dec)


def outlines_radec(
    plates: Sequence[PlateOutline], points_per_side: int = 6
) -> npt.NDArray[np.float64]:
    """(plates, 4 * points_per_side, 2) RA/Dec degrees around each digitized area, computed
    for every plate at once (the whole-sky map draws thousands)."""
    if not plates:
        return np.zeros((0, 4 * points_per_side, 2))
    column = np.array(
        [
            (
                p.plate_size_px,
                p.x0,
                p.y0,
                p.width_px,
                p.height_px,
                p.scale_arcsec,
                p.ra_deg,
                p.dec_deg,
            )
            for p in plates
        ],
        dtype=np.float64,
    ).T[:, :, np.newaxis]
    size, x0, y0, width, height, scale_arcsec, ra0, dec0 = column
    half = size / 2.0
    t = np.linspace(0.0, 1.0, points_per_side, endpoint=False)[np.newaxis, :]
    left, right = x0 - half, x0 + width - half
    bottom, top = y0 - half, y0 + height - half
    ones = np.ones_like(t)
    xs = np.concatenate(
        [left + (right - left) * t, right * ones, right - (right - left) * t, left * ones], axis=1
    )
    ys = np.concatenate(
        [bottom * ones, bottom + (top - bottom) * t, top * ones, top - (top - bottom) * t], axis=1
    )
    scale = np.radians(scale_arcsec / 3600.0)
    ra, dec = gnomonic_deproject_deg(ra0, dec0, -xs * scale, ys * scale)
    return np.stack([ra, dec], axis=-1)


def _svg_open(view_width: float, view_height: float, title: str, css_class: str) -> list[str]:
    """An SVG that scales to its container (no fixed width: nothing is clipped)."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {view_width:.0f} {view_height:.0f}" '
        f'class="{css_class}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>",
    ]


def _polygon(points: str, plate: PlateOutline, extra: str = "") -> str:
    fill = "#f2c14e" if plate.online else "none"
    opacity = "0.8" if plate.online else "0.5"
    return (
        f'<polygon points="{points}" fill="{fill}" fill-opacity="{opacity}" '
        f'stroke="#7fa7e0" stroke-opacity="{opacity}" stroke-width="0.6"{extra}>'
        f"<title>{escape(plate.plate_id)}{' (online)' if plate.online else ''}</title>"
        "</polygon>"
    )


#: Styles of the whole-sky map, once, instead of on each of thousands of outlines.
_SKY_MAP_STYLE = (
    "<style>path.on{fill:#f2c14e;fill-opacity:.8;stroke:#7fa7e0;stroke-opacity:.8;"
    "stroke-width:.6}path.off{fill:none;stroke:#7fa7e0;stroke-opacity:.5;stroke-width:.6}"
    "</style>"
)


def sky_map_svg(outlines: Sequence[PlateOutline], *, width: int = 1080, title: str = "") -> str:
    """Plate carrée map, RA 24h..0h left to right (east to the left, as on the sky).

    RA hours are labelled below the map and Dec degrees on its left; the picture scales
    to the width of its container. Each outline is a path of 12 points in whole map pixels
    (a plate is some 20 of them wide here), styled by class, clipped to the map: the 5,000
    plates of DSS2 make a few hundred kB, drawn in well under a second.
    """
    left, right, bottom = 34, 12, 20  # room for the Dec and RA labels
    height = width // 2
    sx, sy = width / 360.0, height / 180.0
    parts = _svg_open(width + left + right, height + bottom, title, "sky-map")
    parts.append(_SKY_MAP_STYLE)
    parts.append(f'<clipPath id="sky"><rect width="{width}" height="{height}"/></clipPath>')
    parts.append(f'<g transform="translate({left},0)">')
    parts.append(f'<rect width="{width}" height="{height}" fill="#0b1020"/>')
    for ra_line in range(0, 361, 30):
        x = (360 - ra_line) * sx
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#2a3350"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height + 14}" font-size="11" fill="#8a93a8" '
            f'text-anchor="middle">{ra_line // 15}h</text>'
        )
    for dec in range(-90, 91, 30):
        y = (90 - dec) * sy
        if -90 < dec < 90:
            parts.append(f'<line x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" stroke="#2a3350"/>')
        baseline = min(max(y + 4, 11), height)
        parts.append(
            f'<text x="-4" y="{baseline:.1f}" font-size="11" fill="#8a93a8" '
            f'text-anchor="end">{dec:+d}°</text>'
        )
    parts.append('<g clip-path="url(#sky)">')
    parts += _outline_paths(outlines, sx, sy)
    parts.append("</g></g></svg>")
    return "\n".join(parts)


def _outline_paths(outlines: Sequence[PlateOutline], sx: float, sy: float) -> list[str]:
    radec = outlines_radec(outlines, points_per_side=3)
    if not len(radec):
        return []
    ra, dec = radec[..., 0], radec[..., 1]
    centre = np.array([p.ra_deg for p in outlines])[:, np.newaxis]
    # An outline straddling RA 0 is drawn on the side of its centre.
    ra = np.where(ra - centre > 180, ra - 360, np.where(centre - ra > 180, ra + 360, ra))
    xs = np.rint((360 - ra) * sx).astype(int)
    ys = np.rint((90 - dec) * sy).astype(int)
    # Relative steps after the first point: short numbers, a smaller file.
    steps = np.diff(np.stack([xs, ys], axis=-1), axis=1)
    paths = []
    for plate, start, moves in zip(
        outlines, zip(xs[:, 0], ys[:, 0], strict=True), steps, strict=True
    ):
        d = " ".join(f"{dx} {dy}" for dx, dy in moves.tolist())
        state, note = ("on", " (online)") if plate.online else ("off", "")
        paths.append(
            f'<path class="{state}" d="M{start[0]} {start[1]}l{d}z">'
            f"<title>{escape(plate.plate_id)}{note}</title></path>"
        )
    return paths


def field_map_svg(
    ra_deg: float,
    dec_deg: float,
    width_arcmin: float,
    height_arcmin: float,
    outlines: Sequence[PlateOutline],
    *,
    size: int = 480,
    title: str = "",
) -> str:
    """The outlines of plates around one field, north up and east to the left.

    Everything is projected gnomonically about the field centre and the view is fitted to
    the field and every outline, with a 5 % margin. The field is the red rectangle; each
    plate is labelled with its id at its centre and links to ``#plate-<id>``.
    """
    half_w, half_h = width_arcmin / 120.0, height_arcmin / 120.0
    field_xy = np.array(
        [[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]]
    )
    shapes: list[tuple[PlateOutline, npt.NDArray[np.float64]]] = []
    for plate in outlines:
        radec = outline_radec(plate)
        xi, eta = gnomonic_project_deg(radec[:, 0], radec[:, 1], ra_deg, dec_deg)
        if np.all(np.isfinite(xi)) and np.all(np.isfinite(eta)):
            shapes.append((plate, np.column_stack([xi, eta])))
    every = np.vstack([field_xy, *(xy for _, xy in shapes)])
    low, high = every.min(axis=0), every.max(axis=0)
    span = float(max(high[0] - low[0], high[1] - low[1], 1e-6)) * 1.1
    mid = (low + high) / 2.0
    scale = size / span

    def to_svg(xy: npt.NDArray[np.float64]) -> str:
        # East (xi > 0) to the left, north (eta > 0) up.
        xs = size / 2.0 - (xy[:, 0] - mid[0]) * scale
        ys = size / 2.0 - (xy[:, 1] - mid[1]) * scale
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))

    parts = _svg_open(size, size, title, "field-map")
    parts.append(f'<rect width="{size}" height="{size}" fill="#0b1020"/>')
    for plate, xy in shapes:
        parts.append(f'<a href="#plate-{escape(plate.plate_id)}">{_polygon(to_svg(xy), plate)}</a>')
        centre = xy.mean(axis=0)
        cx = size / 2.0 - (centre[0] - mid[0]) * scale
        cy = size / 2.0 - (centre[1] - mid[1]) * scale
        # A dark halo keeps the label readable on filled (online) plates and on the sky.
        parts.append(
            f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="13" font-weight="600" fill="#ffffff" '
            'stroke="#0b1020" stroke-width="3" paint-order="stroke" '
            f'text-anchor="middle">{escape(plate.plate_id)}</text>'
        )
    parts.append(
        f'<polygon points="{to_svg(field_xy)}" fill="#e5484d" fill-opacity="0.35" '
        'stroke="#e5484d" stroke-width="1.5"><title>the field</title></polygon>'
    )
    parts.append(
        f'<text x="{size - 6}" y="16" font-size="12" fill="#b7c3d9" text-anchor="end">'
        "N up, E left</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
