"""Parametric bony labyrinth of one ear, in the *ear frame*.

Ear frame (mm): origin at the vestibule centre, axes of a **left** ear in LPS: +x lateral,
+y posterior, +z superior. A right ear is the mirror image (the lateral axis is flipped when the
ear is placed in the head, see :mod:`.scene`), so the geometry here is built once, in left
chirality.

The labyrinth is a set of primitives that the rasteriser (:mod:`.raster`) turns into label maps
and partial-volume fluid fractions:

* :class:`Tube` -- a centre line with a radius per point (swept spheres): cochlear duct, canal arcs,
  ampullae (radius bumps), limbs, the common crus.
* :class:`Ellipsoid` -- the vestibule body and its recesses, the common cavity.

Anatomical numbers come from ``reference/anatomy.md`` (see docs/phantom.md for the table
with sources); every drawn parameter is stored in :attr:`Labyrinth.params` for the sidecar.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..labels import Structure


@dataclass(frozen=True, eq=False)
class Tube:
    """Swept-sphere tube: centre line ``points_mm`` (N, 3) in the ear frame, ``radii_mm`` (N,).

    With ``thin_axis`` (unit (3,), ear frame) and ``aspect_ratio`` (N,) in (0, 1], each sphere is an
    oblate spheroid instead, its semi-axis along ``thin_axis`` ``aspect_ratio`` x the radius: a canal
    flattened across its plane (real canals are wider than high, docs/phantom.md).
    """

    structure: Structure
    points_mm: np.ndarray
    radii_mm: np.ndarray
    name: str = ""
    thin_axis: np.ndarray | None = None
    aspect_ratio: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Ellipsoid:
    """Solid ellipsoid: ``axes`` (3, 3) columns are unit axes, ``semi_mm`` (3,) semi-axes along them."""

    structure: Structure
    centre_mm: np.ndarray
    axes: np.ndarray
    semi_mm: np.ndarray
    name: str = ""


@dataclass(frozen=True, eq=False)
class Labyrinth:
    """One ear's labyrinth in the ear frame, with landmarks and the parameters that made it."""

    tubes: tuple[Tube, ...]
    blobs: tuple[Ellipsoid, ...]
    landmarks_mm: dict[str, np.ndarray]
    params: dict
    structures: dict[str, str] = field(default_factory=dict)  # key -> present|missing|hypoplastic|...
    disorganised: bool = False

    @property
    def centre_mm(self) -> np.ndarray:
        """Centre of the labyrinth's bounding box (ear frame, mm)."""
        return self.landmarks_mm["labyrinth_centre"]

    def primitives(self, structure: Structure | None = None):
        """All tubes and blobs, optionally only those of one structure."""
        items = list(self.tubes) + list(self.blobs)
        return [p for p in items if structure is None or p.structure is structure]


# --------------------------------------------------------------------------- parameters
def _clipped_normal(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(mean, sd), lo, hi))


def draw_anatomy_params(rng: np.random.Generator) -> dict:
    """Draw one normal ear's anatomical parameters within published ranges (anatomy.md).

    Returns a flat JSON-able dict (mm, degrees). Pathologies edit it before :func:`build_labyrinth`.
    """
    p = {
        # cochlea: A-value 9.2 +- 0.5 (7.9-10.8), height 3.3 +- 0.25, 2.6 +- 0.3 turns
        "cochlea_a_value_mm": _clipped_normal(rng, 9.2, 0.45, 8.4, 10.4),
        "cochlea_height_mm": _clipped_normal(rng, 3.5, 0.25, 3.0, 4.0),
        "cochlea_turns": _clipped_normal(rng, 2.6, 0.2, 2.2, 2.9),
        "cochlea_lumen_base_mm": float(rng.uniform(3.0, 3.4)),
        "cochlea_lumen_height_base_mm": float(rng.uniform(1.4, 1.6)),
        "cochlea_lumen_height_apex_mm": float(rng.uniform(0.95, 1.1)),
        "cochlea_rise_exponent": float(rng.uniform(2.0, 2.5)),
        "cochlea_lumen_apex_mm": float(rng.uniform(1.5, 1.75)),
        "cochlea_apex_radius_mm": float(rng.uniform(0.3, 0.45)),
        "cochlea_axis_azimuth_deg": float(rng.uniform(40.0, 60.0)),  # from anterior towards lateral
        "cochlea_axis_elevation_deg": float(rng.uniform(-30.0, -12.0)),  # negative: points down
        "cochlea_hook_mm": float(rng.uniform(0.3, 0.7)),
        # vestibule approx. 5-6 (AP) x 3 (lat) x 4-5 (vertical) mm
        "vestibule_semi_mm": [float(rng.uniform(1.75, 1.95)), float(rng.uniform(2.95, 3.3)),
                              float(rng.uniform(2.35, 2.65))],
        "vestibule_tilt_deg": [float(v) for v in rng.uniform(-8, 8, 3)],
        "vestibule_recess_scale": [float(v) for v in rng.uniform(0.6, 0.8, 2)],
        # canals: radii 3.2 / 3.1 / 2.3-2.5, lumen 0.8-1.0, planes 90 +- 6 deg apart
        "superior_radius_mm": _clipped_normal(rng, 3.2, 0.15, 2.9, 3.5),
        "posterior_radius_mm": _clipped_normal(rng, 3.1, 0.15, 2.8, 3.4),
        "lateral_radius_mm": _clipped_normal(rng, 2.4, 0.08, 2.25, 2.55),
        "superior_lumen_mm": float(rng.uniform(0.85, 1.0)),
        "posterior_lumen_mm": float(rng.uniform(0.85, 1.0)),
        "lateral_lumen_mm": float(rng.uniform(0.85, 1.0)),
        "superior_arc_deg": float(rng.uniform(242, 256)),
        "posterior_arc_deg": float(rng.uniform(245, 262)),
        "lateral_arc_deg": float(rng.uniform(245, 262)),
        "superior_crus_angle_deg": float(rng.uniform(0, 12)),
        "posterior_crus_angle_deg": float(rng.uniform(-74, -64)),
        "canal_normal_jitter_deg": [[float(v) for v in rng.uniform(-2.5, 2.5, 2)] for _ in range(3)],
        "canal_nonplanarity_mm": [float(v) for v in rng.uniform(0.1, 0.35, 3)],
        "canal_nonplanarity_phase": [float(v) for v in rng.uniform(0, 2 * np.pi, 3)],
        "crus_length_mm": float(rng.uniform(3.5, 4.5)),
        "lateral_canal_pitch_deg": _clipped_normal(rng, 24.0, 5.0, 15.0, 35.0),
        "canal_yaw_deg": float(rng.uniform(-6, 6)),
        "lateral_centre_mm": [float(rng.uniform(2.9, 3.2)), float(rng.uniform(0.75, 1.0)),
                              float(rng.uniform(0.6, 0.9))],
        "ampulla_scale": float(rng.uniform(1.9, 2.2)),
    }
    return p


# --------------------------------------------------------------------------- small geometry helpers
def unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def rotation_xyz_deg(angles_deg) -> np.ndarray:
    """Rotation matrix Rz @ Ry @ Rx for angles (about x, y, z) in degrees."""
    ax, ay, az = np.radians(angles_deg)
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def resample_polyline(points: np.ndarray, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every `step_mm` along a polyline, and their arc length from the start."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(int(np.ceil(s[-1] / step_mm)) + 1, 2)
    t = np.linspace(0.0, s[-1], n)
    out = np.stack([np.interp(t, s, points[:, k]) for k in range(3)], axis=1)
    return out, t


def _plane_basis(normal, h_hint) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normal n, in-plane h (closest to `h_hint`) and v = n x h pointing up (+z) if possible."""
    n = unit(normal)
    h = unit(np.asarray(h_hint, float) - np.dot(h_hint, n) * n)
    v = np.cross(n, h)
    if v[2] < 0:
        n = -n
        v = -v
    return n, h, v


def _jittered_normal(normal, jitter_deg) -> np.ndarray:
    return rotation_xyz_deg([jitter_deg[0], jitter_deg[1], 0.0]) @ unit(normal)


def _arc(centre, h, v, n, radius, start_deg, span_deg, nonplanar_mm, phase, step_mm=0.12) -> np.ndarray:
    """Points of a circular arc from `start_deg` decreasing by `span_deg`, warped out of plane."""
    length = np.radians(abs(span_deg)) * radius
    k = max(int(length / step_mm), 8)
    ang = np.radians(start_deg - np.linspace(0.0, span_deg, k))
    t = np.linspace(0.0, 1.0, k)
    warp = nonplanar_mm * np.sin(np.pi * t) * np.sin(2 * np.pi * t + phase)
    return (centre + radius * (np.cos(ang)[:, None] * h + np.sin(ang)[:, None] * v)
            + warp[:, None] * n)


def _plane_basis_towards(normal, h_hint, v_ref) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`_plane_basis` but orients v along `v_ref` (for the near-horizontal lateral canal)."""
    n = unit(normal)
    h = unit(np.asarray(h_hint, float) - np.dot(h_hint, n) * n)
    v = np.cross(n, h)
    if np.dot(v, v_ref) < 0:
        n, v = -n, -v
    return n, h, v


def ampulla_radii(s_mm: np.ndarray, lumen_mm: float, at_mm: float, scale: float, *,
                  half_length_mm: float = 0.75) -> np.ndarray:
    """Radius profile of a canal: lumen/2 with a bulb of `scale` x lumen centred `at_mm` along it.

    The bulb is Gaussian along the canal with 1/e half-length `half_length_mm` (classic anatomy 0.75 mm).
    """
    bump = np.exp(-(((s_mm - at_mm) / half_length_mm) ** 2))
    return 0.5 * lumen_mm * (1.0 + (scale - 1.0) * bump)
