"""Sky regions of the IVOA protocols (DALI ``CIRCLE``, ``RANGE``, ``POLYGON``) and whether
they meet a plate's scanned area.

Pure numpy; no Django. Positions are ICRS (= J2000 for the DSS plate solutions, well within
their accuracy) RA/Dec in degrees. A plate's scanned area is a small convex spherical polygon
(a few degrees across) whose edges are great-circle arcs; its vertices are unit vectors in
counter-clockwise order as seen from inside the sphere (north, east, south, west: the DALI
winding). The tests here are exact for circles and polygons (great-circle edges on both
sides); a ``RANGE`` box, whose north and south edges are small circles, is tested against
the plate outline sampled every few arcminutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Plate outlines are sampled this densely (points per edge) for ``RANGE`` boxes.
_RANGE_SAMPLES_PER_EDGE = 64


def unit_vectors(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> FloatArray:
    """(..., 3) unit vectors of RA/Dec degrees."""
    ra, dec = np.radians(np.asarray(ra_deg, float)), np.radians(np.asarray(dec_deg, float))
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def ra_dec_of(vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """RA in [0, 360) and Dec in degrees of (..., 3) vectors (not necessarily unit)."""
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    ra = np.degrees(np.arctan2(y, x)) % 360.0
    ra = np.where(ra >= 360.0, 0.0, ra)  # -1e-17 % 360 rounds to 360
    dec = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return ra, dec


def counter_clockwise(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> tuple[FloatArray, ...]:
    """The vertices of a small polygon ordered counter-clockwise as seen from inside the
    sphere (north -> east -> south -> west), reversing them when needed."""
    ra, dec = np.asarray(ra_deg, float), np.asarray(dec_deg, float)
    v = unit_vectors(ra, dec)
    centre = v.sum(axis=0)
    # Seen from inside, counter-clockwise means each edge turns about the centre with
    # (a x b) . centre > 0 summed over the edges.
    turn = float(np.einsum("ij,j->", np.cross(v, np.roll(v, -1, axis=0)), centre))
    if turn < 0:
        return ra[::-1].copy(), dec[::-1].copy()
    return ra, dec


@dataclass(frozen=True)
class ConvexOutline:
    """A convex spherical polygon (a plate's scanned area), vertices counter-clockwise.

    Attributes
    ----------
    vertices
        (n, 3) unit vectors.
    normals
        (n, 3) unit normals of the edges' great circles, pointing inside.
    """

    vertices: FloatArray
    normals: FloatArray

    @classmethod
    def from_ra_dec(cls, ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> ConvexOutline:
        ra, dec = counter_clockwise(ra_deg, dec_deg)
        v = unit_vectors(ra, dec)
        normals = np.cross(v, np.roll(v, -1, axis=0))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        return cls(v, normals)

    def contains(self, points: FloatArray) -> npt.NDArray[np.bool_]:
        """Which of the (m, 3) unit vectors lie inside (or on) the outline."""
        return np.all(points @ self.normals.T >= -1e-12, axis=-1)

    def edge_distance_deg(self, point: FloatArray) -> float:
        """Smallest angular distance (degrees) from a unit vector to the outline's edges."""
        a, b = self.vertices, np.roll(self.vertices, -1, axis=0)
        # Foot of the perpendicular on each edge's great circle, kept when it lies on the arc.
        foot = point - (self.normals @ point)[:, None] * self.normals
        norms = np.linalg.norm(foot, axis=1)
        foot = foot / np.where(norms > 0, norms, 1.0)[:, None]
        on_arc = (np.einsum("ij,ij->i", np.cross(a, foot), self.normals) >= 0) & (
            np.einsum("ij,ij->i", np.cross(foot, b), self.normals) >= 0
        )
        candidates = np.concatenate([a, foot[on_arc & (norms > 0)]])
        cosines = np.clip(candidates @ point, -1.0, 1.0)
        return float(np.degrees(np.arccos(cosines.max())))

    def sampled(self, per_edge: int) -> FloatArray:
        """(n * per_edge, 3) points along the edges (vertices included)."""
        a, b = self.vertices, np.roll(self.vertices, -1, axis=0)
        t = np.linspace(0.0, 1.0, per_edge, endpoint=False)[None, :, None]
        points = (a[:, None, :] * (1 - t) + b[:, None, :] * t).reshape(-1, 3)
        return points / np.linalg.norm(points, axis=1, keepdims=True)


@dataclass(frozen=True)
class Circle:
    """DALI ``CIRCLE ra dec radius`` (degrees); radius 0 is a point."""

    ra_deg: float
    dec_deg: float
    radius_deg: float

    @cached_property
    def centre(self) -> FloatArray:
        return unit_vectors(self.ra_deg, self.dec_deg)

    def reach(self) -> tuple[FloatArray, float]:
        """A cap holding the region: centre unit vector and radius (degrees)."""
        return self.centre, self.radius_deg

    def meets(self, outline: ConvexOutline) -> bool:
        centre = self.centre
        if bool(outline.contains(centre[None, :])[0]):
            return True
        return outline.edge_distance_deg(centre) <= self.radius_deg


def circle_meets_outlines(circle: Circle, vertices: FloatArray, normals: FloatArray) -> Any:
    """``Circle.meets`` for many outlines of ``k`` vertices at once: (n, k, 3) vertices and
    inward edge normals in, (n,) booleans out."""
    c = circle.centre
    side = normals @ c  # (n, k): sine of the distance to each edge's great circle
    inside = np.all(side >= -1e-12, axis=1)
    a, b = vertices, np.roll(vertices, -1, axis=1)
    foot = c[None, None, :] - side[..., None] * normals
    norms = np.linalg.norm(foot, axis=2)
    foot = foot / np.where(norms > 0, norms, 1.0)[..., None]
    on_arc = (
        (np.einsum("nki,nki->nk", np.cross(a, foot), normals) >= 0)
        & (np.einsum("nki,nki->nk", np.cross(foot, b), normals) >= 0)
        & (norms > 0)
    )
    nearest = np.maximum(np.where(on_arc, foot @ c, -1.0).max(axis=1), (a @ c).max(axis=1))
    distance = np.degrees(np.arccos(np.clip(nearest, -1.0, 1.0)))
    return inside | (distance <= circle.radius_deg)


@dataclass(frozen=True)
class Range:
    """DALI ``RANGE ra1 ra2 dec1 dec2`` (degrees; open ends given as +-inf already clamped).

    ``ra1 > ra2`` wraps through RA 0 (``RANGE 350 10 ...``).
    """

    ra1: float
    ra2: float
    dec1: float
    dec2: float

    @property
    def whole_ra(self) -> bool:
        return self.ra2 - self.ra1 >= 360.0

    def contains_ra_dec(self, ra: FloatArray, dec: FloatArray) -> npt.NDArray[np.bool_]:
        in_dec = (dec >= self.dec1) & (dec <= self.dec2)
        if self.whole_ra:
            return in_dec
        lo = self.ra1 % 360.0
        hi = self.ra2 if self.ra2 == 360.0 else self.ra2 % 360.0
        in_ra = (ra >= lo) & (ra <= hi) if lo <= hi else (ra >= lo) | (ra <= hi)
        return in_dec & in_ra

    def reach(self) -> tuple[FloatArray, float]:
        if self.whole_ra or self.dec2 - self.dec1 >= 90.0:
            return np.array([0.0, 0.0, 1.0]), 180.0
        span = (self.ra2 - self.ra1) % 360.0 or 360.0
        mid_ra, mid_dec = self.ra1 + span / 2.0, (self.dec1 + self.dec2) / 2.0
        corners_ra = np.array([self.ra1, self.ra2, self.ra1, self.ra2, mid_ra, mid_ra])
        corners_dec = np.array([self.dec1, self.dec1, self.dec2, self.dec2, self.dec1, self.dec2])
        centre = unit_vectors(mid_ra, mid_dec)
        radius = np.degrees(
            np.arccos(np.clip(unit_vectors(corners_ra, corners_dec) @ centre, -1, 1))
        )
        return centre, float(radius.max())

    def meets(self, outline: ConvexOutline) -> bool:
        ra, dec = ra_dec_of(outline.sampled(_RANGE_SAMPLES_PER_EDGE))
        if bool(self.contains_ra_dec(ra, dec).any()):
            return True
        if self._edges_cross(ra, dec):
            return True
        # Neither an outline point in the box nor a crossing: the box is wholly inside the
        # outline (then so is its middle) or they are apart.
        span = 360.0 if self.whole_ra else (self.ra2 - self.ra1) % 360.0
        inner = unit_vectors(self.ra1 + span / 2.0, (self.dec1 + self.dec2) / 2.0)
        return bool(outline.contains(inner[None, :])[0])

    def _edges_cross(self, ra: FloatArray, dec: FloatArray) -> bool:
        """Whether the closed outline (densely sampled) crosses an edge of the box."""
        ra_next, dec_next = np.roll(ra, -1), np.roll(dec, -1)
        step = (ra_next - ra + 180.0) % 360.0 - 180.0  # the short way round
        for limit in (self.dec1, self.dec2):
            crosses = (dec - limit) * (dec_next - limit) <= 0
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(dec_next != dec, (limit - dec) / (dec_next - dec), 0.0)
            at = (ra + t * step) % 360.0
            if bool((crosses & self.contains_ra_dec(at, np.full_like(at, limit))).any()):
                return True
        if self.whole_ra:
            return False
        for limit in (self.ra1, self.ra2):
            offset = (ra - limit + 180.0) % 360.0 - 180.0
            crosses = (offset * (offset + step) <= 0) & (np.abs(step) < 90.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(step != 0, -offset / step, 0.0)
            at = dec + t * (dec_next - dec)
            if bool((crosses & (at >= self.dec1) & (at <= self.dec2)).any()):
                return True
        return False


@dataclass(frozen=True)
class Polygon:
    """DALI ``POLYGON ra1 dec1 ra2 dec2 ...`` (degrees, at least 3 vertices, great-circle
    edges, smaller than a hemisphere; either winding)."""

    ra_deg: tuple[float, ...]
    dec_deg: tuple[float, ...]

    @cached_property
    def vertices(self) -> FloatArray:
        return unit_vectors(self.ra_deg, self.dec_deg)

    def reach(self) -> tuple[FloatArray, float]:
        v = self.vertices
        centre = v.sum(axis=0)
        norm = float(np.linalg.norm(centre))
        if norm < 1e-9:
            return np.array([0.0, 0.0, 1.0]), 180.0
        centre /= norm
        return centre, float(np.degrees(np.arccos(np.clip(v @ centre, -1, 1))).max())

    def meets(self, outline: ConvexOutline) -> bool:
        mine = self.vertices
        if bool(outline.contains(mine).any()):
            return True
        if bool(self._contains(outline.vertices).any()):
            return True
        return _arcs_cross(mine, outline.vertices)

    def _contains(self, points: FloatArray) -> npt.NDArray[np.bool_]:
        """Points inside this (possibly concave) polygon: even-odd rule in the gnomonic
        projection about its centre, where its edges are straight lines."""
        centre, _radius = self.reach()
        xs, ys = _tangent_plane(self.vertices, centre)
        px, py = _tangent_plane(points, centre)
        front = points @ centre > 1e-6
        inside = np.zeros(len(points), dtype=bool)
        for i in range(len(xs)):
            x1, y1, x2, y2 = xs[i - 1], ys[i - 1], xs[i], ys[i]
            crosses = (y1 > py) != (y2 > py)
            with np.errstate(divide="ignore", invalid="ignore"):
                x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
            inside ^= crosses & (px < x_at)
        return inside & front


def _tangent_plane(points: FloatArray, centre: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Gnomonic coordinates of unit vectors about ``centre`` (any fixed orthonormal axes)."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(centre[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    east = np.cross(helper, centre)
    east /= np.linalg.norm(east)
    north = np.cross(centre, east)
    depth = points @ centre
    depth = np.where(np.abs(depth) < 1e-12, 1e-12, depth)
    return (points @ east) / depth, (points @ north) / depth


def _arcs_cross(p: FloatArray, q: FloatArray) -> bool:
    """Whether any edge of the closed polygon ``p`` crosses any edge of ``q`` (unit vectors)."""
    a, b = p, np.roll(p, -1, axis=0)
    c, d = q, np.roll(q, -1, axis=0)
    n1 = np.cross(a, b)[:, None, :]  # (i, 1, 3)
    n2 = np.cross(c, d)[None, :, :]  # (1, j, 3)
    # Arc AB crosses arc CD iff C, D lie on opposite sides of AB's great circle and A, B on
    # opposite sides of CD's, and the crossing is the near one (not its antipode).
    side_c = np.einsum("ijk,jk->ij", n1, c)
    side_d = np.einsum("ijk,jk->ij", n1, d)
    side_a = np.einsum("ijk,ik->ij", n2, a)
    side_b = np.einsum("ijk,ik->ij", n2, b)
    opposite = (side_c * side_d <= 0) & (side_a * side_b <= 0)
    near = np.einsum("ik,jk->ij", a + b, c + d) > 0
    return bool((opposite & near).any())


def cap_radius_deg(centre: FloatArray, points: FloatArray) -> float:
    """Angular radius (degrees) about ``centre`` of the farthest of ``points``."""
    return float(np.degrees(np.arccos(np.clip(points @ centre, -1.0, 1.0))).max())


Region = Circle | Range | Polygon


def bounding_field(region: Region) -> tuple[float, float, float, float]:
    """The field (centre RA, Dec in degrees; width, height in arcmin) holding a region.

    A circle gives the square of side twice its radius about its centre; a polygon or range
    the box of its vertices (a range's edges sampled) in the gnomonic projection about its
    middle, east-west by north-south.
    """
    if isinstance(region, Circle):
        side = 2.0 * region.radius_deg * 60.0
        return region.ra_deg, region.dec_deg, side, side
    if isinstance(region, Range):
        span = 360.0 if region.whole_ra else (region.ra2 - region.ra1) % 360.0
        t = np.linspace(0.0, 1.0, 9)
        ras = np.concatenate([region.ra1 + span * t] * 2 + [np.full(9, region.ra1)] * 2)
        decs = np.concatenate(
            [np.full(9, region.dec1), np.full(9, region.dec2)]
            + [region.dec1 + (region.dec2 - region.dec1) * t] * 2
        )
        ras[27:] += span  # the second meridian edge
        points = unit_vectors(ras, decs)
    else:
        points = region.vertices
    centre = points.sum(axis=0)
    centre /= np.linalg.norm(centre)
    xs, ys = _tangent_plane_radec(points, centre)
    mid_x, mid_y = (xs.max() + xs.min()) / 2.0, (ys.max() + ys.min()) / 2.0
    ra, dec = _deproject(centre, mid_x, mid_y)
    width = np.degrees(np.arctan(xs.max()) - np.arctan(xs.min())) * 60.0
    height = np.degrees(np.arctan(ys.max()) - np.arctan(ys.min())) * 60.0
    return ra, dec, float(width), float(height)


def _east_north(centre: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Unit vectors pointing east and north at ``centre``."""
    ra, dec = (float(v) for v in ra_dec_of(centre))
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    east = np.array([-np.sin(ra_r), np.cos(ra_r), 0.0])
    north = np.array([-np.sin(dec_r) * np.cos(ra_r), -np.sin(dec_r) * np.sin(ra_r), np.cos(dec_r)])
    return east, north


def _tangent_plane_radec(points: FloatArray, centre: FloatArray) -> tuple[FloatArray, FloatArray]:
    east, north = _east_north(centre)
    depth = points @ centre
    return (points @ east) / depth, (points @ north) / depth


def _deproject(centre: FloatArray, x: float, y: float) -> tuple[float, float]:
    east, north = _east_north(centre)
    vector = centre + x * east + y * north
    ra, dec = ra_dec_of(vector)
    return float(ra), float(dec)
