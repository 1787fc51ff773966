"""A small synthetic left-chirality ear in the ear-box frame, with known structures.

Box frame: array (z, y, x), x lateral, y posterior, z superior, 0.3 mm voxels. The shapes are
simple (ellipsoid vestibule, conical spiral cochlea, three 240-degree canal arcs with straight limbs
into the vestibule) but keep the anatomical layout: cochlea anterior-medial-inferior, superior
canal above, posterior canal behind, lateral canal lateral.
"""
from __future__ import annotations

import numpy as np
import pytest

SPACING_MM = 0.3
SHAPE = (96, 96, 96)


def _grid_mm(shape=SHAPE, spacing=SPACING_MM):
    c = (np.asarray(shape) - 1) / 2.0
    z, y, x = np.meshgrid(*[(np.arange(n) - ci) * spacing for n, ci in zip(shape, c)], indexing="ij")
    return np.stack([x, y, z], axis=-1)  # (z, y, x, 3) points (x, y, z) mm


def _tube(points_mm, path_xyz, radius_mm):
    """Voxels within radius of a polyline (dense points); only the path's bounding box is searched."""
    from scipy.spatial import cKDTree

    rad = np.broadcast_to(np.asarray(radius_mm, float), (len(path_xyz),))
    lo, hi = path_xyz.min(axis=0) - rad.max(), path_xyz.max(axis=0) + rad.max()
    inside = np.all((points_mm >= lo) & (points_mm <= hi), axis=-1)
    out = np.zeros(points_mm.shape[:-1], bool)
    d, i = cKDTree(path_xyz).query(points_mm[inside], distance_upper_bound=float(rad.max()) + 0.01)
    ok = np.isfinite(d)
    hit = np.zeros(len(d), bool)
    hit[ok] = d[ok] <= rad[i[ok]]
    out[inside] = hit
    return out


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def _canal_path(centre, u, v, radius, vest_centre, n=400):
    """240-degree arc away from the vestibule plus straight limbs from both ends to the vestibule centre."""
    ang = np.linspace(np.deg2rad(60), np.deg2rad(300), n)
    # angle 0 points from the circle centre towards the vestibule (-u)
    arc = centre + radius * (np.cos(ang)[:, None] * -u + np.sin(ang)[:, None] * v)
    limbs = [np.linspace(arc[0], vest_centre, 60), np.linspace(arc[-1], vest_centre, 60)]
    return np.concatenate([limbs[0][::-1], arc, limbs[1]])


CANALS = {
    # name: (label, circle centre offset direction u, in-plane direction v, distance, radius)
    "superior": (3, _unit([0, 0, 1]), _unit([1, -1, 0]), 4.2, 3.2),
    "posterior": (5, _unit([0.9, 1.2, -0.25]), None, 4.2, 3.1),
    "lateral": (4, _unit([1, 0.4, 0.15]), None, 3.6, 2.4),
}
PLANE_NORMALS = {"superior": _unit([1, 1, 0]), "posterior": _unit([1, -1, 0]), "lateral": _unit([0, -0.35, 1])}


def make_ear(*, drop=(), truncate=(), shift_mm=(0.0, 0.0, 0.0), cochlea_turns=2.6):
    """Labels 1-5 of a synthetic ear; `drop` removes structures, `truncate` cuts the top half of canals."""
    pts = _grid_mm() - np.asarray(shift_mm)
    labels = np.zeros(SHAPE, np.uint8)
    vest_c = np.zeros(3)
    # cochlea: conical spiral around an axis pointing down and antero-lateral
    axis = _unit([0.25, -0.35, -0.9])
    e1 = _unit(np.cross(axis, [0, 0, 1]))
    e2 = np.cross(axis, e1)
    r0, r1 = 3.2, 0.9
    phi = np.linspace(0, 2 * np.pi * cochlea_turns, 900)
    r = r0 * (r1 / r0) ** (phi / (2 * np.pi * 2.6))
    centre0 = np.array([-2.8, -5.6, -1.6])
    # start the basal turn at the point of the circle closest to the vestibule
    to_vest = vest_c - centre0
    to_vest -= (to_vest @ axis) * axis
    a0 = np.arctan2(to_vest @ e2, to_vest @ e1)
    spiral = centre0 + (r * np.cos(phi + a0))[:, None] * e1 + (r * np.sin(phi + a0))[:, None] * e2 \
        + (2.6 * phi / (2 * np.pi * 2.6))[:, None] * axis
    spiral = np.concatenate([np.linspace(vest_c, spiral[0], 40), spiral])
    rad = np.concatenate([np.full(40, 0.8), np.linspace(0.8, 0.45, 900)])
    canal_masks = {}
    for name, (lab, u, v, dist, radius) in CANALS.items():
        n = PLANE_NORMALS[name]
        u = _unit(u - (u @ n) * n)
        v = _unit(np.cross(n, u)) if v is None else _unit(v - (v @ n) * n)
        path = _canal_path(vest_c + dist * u, u, v, radius, vest_c)
        m = _tube(pts, path, 0.45)
        if name in truncate:
            top = pts[..., 2] > (vest_c[2] + dist * u[2] + 0.3 * radius) if name != "lateral" else \
                (pts @ u) > dist + 0.3 * radius
            m &= ~top
        canal_masks[name] = (lab, m)
    if "cochlea" not in drop:
        labels[_tube(pts, spiral, rad)] = 1
    for name, (lab, m) in canal_masks.items():
        if name not in drop:
            labels[m & (labels == 0)] = lab
    vest = ((pts[..., 0] / 1.5) ** 2 + (pts[..., 1] / 2.7) ** 2 + (pts[..., 2] / 2.2) ** 2) <= 1
    if "vestibule" in drop:
        # a removed vestibule leaves a hole: nothing of any structure inside it
        labels[vest] = 0
    else:
        labels[vest] = 2
    return labels


@pytest.fixture(scope="session")
def normal_ear():
    return make_ear()


@pytest.fixture(scope="session")
def ear_factory(normal_ear):
    """ear_factory(drop=(...), truncate=(...)): dropping zeroes labels of the normal ear (cheap)."""
    cache = {}
    names = {"cochlea": 1, "vestibule": 2, "superior": 3, "lateral": 4, "posterior": 5}

    def factory(*, drop=(), truncate=()):
        if truncate:
            key = tuple(sorted(truncate))
            if key not in cache:
                cache[key] = make_ear(truncate=truncate)
            ear = cache[key].copy()
        else:
            ear = normal_ear.copy()
        for name in drop:
            ear[ear == names[name]] = 0
        return ear

    return factory


@pytest.fixture(scope="session")
def phantom_ear():
    """A normal left ear of the project's phantom on its 96^3 0.3 mm box: (labels uint8 1-5, meta)."""
    import SimpleITK as sitk

    from InnerEarSegLib.labels import Side
    from InnerEarSegLib.phantom.generate import generate_roi

    _, labels, meta = generate_roi(11, Side.LEFT, pathologies=(), centre_offset_mm=(0.0, 0.0, 0.0))
    return sitk.GetArrayFromImage(labels), meta
