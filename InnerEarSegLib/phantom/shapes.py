"""Signed distances (mm, positive inside) of simple solids, evaluated on coordinate arrays.

Coordinates are given as a tuple of three equally-shaped float32 arrays (x, y, z) in the frame the
solid is defined in. Each solid also reports its bounding box, so callers evaluate it only on the
part of a voxel block it can touch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Solid:
    """A solid with ``sdf(x, y, z) -> depth_mm`` and an axis-aligned bounding box (lo, hi) in its frame."""

    kind: str
    centre: np.ndarray
    axes: np.ndarray | None = None  # ellipsoid: columns are unit axes
    semi: np.ndarray | None = None  # ellipsoid semi-axes
    points: np.ndarray | None = None  # polyline (K, 3)
    radius: float | np.ndarray = 0.0  # polyline radius (scalar or per point)

    def bounds(self, margin_mm: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "ellipsoid":
            ext = np.sqrt(((self.axes * self.semi[None, :]) ** 2).sum(axis=1)) + margin_mm
            return self.centre - ext, self.centre + ext
        r = float(np.max(self.radius)) + margin_mm
        return self.points.min(axis=0) - r, self.points.max(axis=0) + r

    def sdf(self, x, y, z) -> np.ndarray:
        if self.kind == "ellipsoid":
            return _ellipsoid_sdf(x, y, z, self.centre, self.axes, self.semi)
        return _polyline_sdf(x, y, z, self.points, self.radius)


def ellipsoid(centre, semi, axes=None) -> Solid:
    return Solid("ellipsoid", np.asarray(centre, float), np.eye(3) if axes is None else np.asarray(axes, float),
                 np.asarray(semi, float))


def tube(points, radius) -> Solid:
    pts = np.asarray(points, float)
    return Solid("tube", pts.mean(axis=0), points=pts, radius=radius)


def _ellipsoid_sdf(x, y, z, centre, axes, semi):
    dx, dy, dz = x - np.float32(centre[0]), y - np.float32(centre[1]), z - np.float32(centre[2])
    acc = None
    for k in range(3):
        a = axes[:, k]
        q = (dx * np.float32(a[0]) + dy * np.float32(a[1]) + dz * np.float32(a[2])) * np.float32(1.0 / semi[k])
        acc = q * q if acc is None else acc + q * q
    return (1.0 - np.sqrt(acc)) * np.float32(semi.min())


def _polyline_sdf(x, y, z, points, radius):
    """radius - distance to the polyline (radius may vary linearly per point)."""
    radius = np.broadcast_to(np.asarray(radius, float), (len(points),))
    best = None
    for i in range(len(points) - 1):
        p0, p1 = points[i], points[i + 1]
        d = p1 - p0
        ll = float(np.dot(d, d))
        rx, ry, rz = x - np.float32(p0[0]), y - np.float32(p0[1]), z - np.float32(p0[2])
        t = np.clip((rx * np.float32(d[0]) + ry * np.float32(d[1]) + rz * np.float32(d[2])) * np.float32(1.0 / ll),
                    0.0, 1.0)
        ex, ey, ez = rx - t * np.float32(d[0]), ry - t * np.float32(d[1]), rz - t * np.float32(d[2])
        r = np.float32(radius[i]) + t * np.float32(radius[i + 1] - radius[i])
        val = r - np.sqrt(ex * ex + ey * ey + ez * ez)
        best = val if best is None else np.maximum(best, val)
    return best
