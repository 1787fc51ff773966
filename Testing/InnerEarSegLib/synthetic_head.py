"""A small analytic head CT for the locator's tests: skull, brain, petrous bones, two labyrinths.

Each labyrinth (vestibule, cochlea, three canals, internal auditory canal) sits in a dense otic
capsule inside a petrous block about 32 mm lateral of the mid-line, with a middle ear, an external
ear canal and mastoid air cells lateral to it. The head can be rotated and sampled on any grid
(oblique or flipped direction matrices), as MDCT or as cone-beam CT (lower bone values, cupping).
Shapes have soft edges one voxel wide, which imitates partial volume.
"""
from __future__ import annotations

import functools

import numpy as np
import SimpleITK as sitk


def rotation_matrix(yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0) -> np.ndarray:
    """Rotation about z (yaw), then x (pitch), then y (roll), degrees."""
    a, b, c = np.radians([yaw_deg, pitch_deg, roll_deg])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    return ry @ rx @ rz


EAR_X_MM = 32.0


def labyrinth_centre_canonical(sign: float) -> np.ndarray:
    """Centroid-ish centre of the labyrinth of one ear (sign +1: left, -1: right), head frame."""
    return np.array([sign * EAR_X_MM, 4.0, 0.0])


def _norm2(q):
    return q[..., 0] ** 2 + q[..., 1] ** 2 + q[..., 2] ** 2


def _f32(v):
    return np.asarray(v, dtype=np.float32)


def _ellipsoid_sd(p, centre, semi):
    q = (p - _f32(centre)) / _f32(semi)
    r = np.sqrt(_norm2(q))
    return (r - 1.0) * float(np.min(semi))


def _capsule_sd(p, a, b, radius):
    a, b = _f32(a), _f32(b)
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
    closest = a + t[..., None] * ab
    return np.sqrt(_norm2(p - closest)) - radius


def _torus_sd(p, centre, normal, radius, tube):
    n = _f32(normal / np.linalg.norm(normal))
    q = p - _f32(centre)
    h = q @ n
    inplane = np.sqrt(np.maximum(_norm2(q) - h**2, 0))
    return np.sqrt((inplane - radius) ** 2 + h**2) - tube


def _paint(volume, sd, value, h):
    w = np.clip(0.5 - sd / h, 0.0, 1.0)
    volume *= 1 - w
    volume += w * value


def _ear(volume, p, sign, h, bone, capsule):
    """Paint one temporal bone (sign +1 left ear at +x, -1 right ear) into `volume` at points `p` (head frame)."""
    c = labyrinth_centre_canonical(sign)
    lat = np.array([sign, 0, 0])
    # petrous pyramid: long axis antero-medial
    axis = np.array([-sign * 0.7, -0.7, 0.0])
    _paint(volume, _capsule_sd(p, c - 8 * axis, c + 14 * axis, 8.0), bone, h)
    _paint(volume, _ellipsoid_sd(p, c, np.array([7.5, 8.0, 7.5])), capsule, h)
    # mastoid air cells: posterolateral honeycomb
    mastoid = _ellipsoid_sd(p, c + 11 * lat + np.array([0, 13, -6]), np.array([9.0, 10.0, 10.0]))
    cells = np.sin(p[..., 0] * 1.9) * np.sin(p[..., 1] * 1.9) * np.sin(p[..., 2] * 1.9)
    _paint(volume, np.maximum(mastoid, -cells - 0.2), -1000.0, h)
    _paint(volume, np.maximum(mastoid, cells + 0.2), 0.45 * bone, h)
    # middle ear (air) with ossicles, external canal to the outside
    _paint(volume, _ellipsoid_sd(p, c + 6.5 * lat + np.array([0, -1, 1]), np.array([2.0, 5.0, 6.0])), -1000.0, h)
    _paint(volume, _capsule_sd(p, c + 6.5 * lat + np.array([0, -1, 0]), c + 7 * lat + np.array([0, -1, 0.5]), 1.0),
           0.5 * bone, h)
    _paint(volume, _capsule_sd(p, c + 8 * lat + np.array([0, -1, -1]), c + 60 * lat + np.array([0, -2, -3]), 3.5),
           -1000.0, h)
    for sd in _labyrinth_sds(p, sign):
        _paint(volume, sd, 20.0, h)
    _paint(volume, _capsule_sd(p, c + np.array([-2 * sign, -1.5, -0.5]), c + np.array([-14 * sign, -2.5, 0.0]),
                               2.0), 10.0, h)  # internal auditory canal: not part of the labyrinth


def _labyrinth_sds(p, sign):
    """Signed distances (mm) of the labyrinth's parts: vestibule, cochlea (two turns), three canals."""
    c = labyrinth_centre_canonical(sign)
    vest = c + np.array([0.5 * sign, 0.5, 0.5])
    coch = c + np.array([-2.5 * sign, -4.5, -1.5])
    coch_axis = np.array([sign * 0.5, -0.6, -0.6])
    return [
        _ellipsoid_sd(p, vest, np.array([1.6, 2.7, 2.2])),
        _torus_sd(p, coch, coch_axis, 2.6, 1.1),
        _torus_sd(p, coch + 0.8 * coch_axis, coch_axis, 1.2, 0.8),
        _torus_sd(p, vest + np.array([0, 1.0, 3.2]), np.array([sign * 0.7, -0.7, 0]), 3.2, 0.45),  # superior
        _torus_sd(p, vest + np.array([0, 3.5, 1.5]), np.array([sign * 0.7, 0.7, 0]), 3.1, 0.45),  # posterior
        _torus_sd(p, vest + np.array([sign * 2.8, 1.2, 0]), np.array([0, 0.35, 1.0]), 2.4, 0.45),  # lateral
    ]


@functools.lru_cache(maxsize=4)
def labyrinth_centroid_canonical(sign: float, step_mm: float = 0.25) -> np.ndarray:
    """Centre of the labyrinth's bounding box (head frame), by sampling its parts on a fine grid.

    Like the phantom's ``labyrinth_centre_lps_mm``: the middle of the box that holds the labyrinth.
    """
    c = labyrinth_centre_canonical(sign)
    ax = np.arange(-12, 12, step_mm, dtype=np.float32)
    p = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1) + c.astype(np.float32)
    inside = np.min(np.stack(_labyrinth_sds(p, sign)), axis=0) < 0
    pts = p[inside]
    return (pts.min(axis=0) + pts.max(axis=0)) / 2


def make_head_ct(
    *,
    rotation: np.ndarray | None = None,
    spacing_mm=(0.9, 0.9, 1.0),
    size_xyz=(190, 210, 48),
    direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
    centre_lps_mm=(0.0, 0.0, 0.0),
    head_offset_lps_mm=(0.0, 0.0, 0.0),
    ears=("left", "right"),
    cbct: bool = False,
    seed: int = 0,
) -> tuple[sitk.Image, dict]:
    """Sample the head on a grid and return ``(ct, {"left": centre_lps_mm, "right": centre_lps_mm})``.

    The grid is centred on `centre_lps_mm` with the given `direction`; the head's centre sits at
    `head_offset_lps_mm` rotated by `rotation` (3x3, head frame -> world).
    """
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=float)
    size = np.asarray(size_xyz)
    spacing = np.asarray(spacing_mm, dtype=float)
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    origin = np.asarray(centre_lps_mm) - d @ ((size - 1) / 2 * spacing)
    k, j, i = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in size[::-1]], indexing="ij")
    world = np.stack([i, j, k], -1) * spacing.astype(np.float32) @ d.T.astype(np.float32) + origin.astype(np.float32)
    p = (world - np.asarray(head_offset_lps_mm, dtype=np.float32)) @ rot.astype(np.float32)  # world -> head frame
    h = float(spacing.max())
    bone, capsule = (1300.0, 1500.0) if cbct else (1700.0, 2300.0)
    volume = np.full(p.shape[:3], -1000.0, dtype=np.float32)
    _paint(volume, _ellipsoid_sd(p, np.zeros(3), np.array([72.0, 92.0, 85.0])), 40.0, h)
    _paint(volume, _ellipsoid_sd(p, np.zeros(3), np.array([68.0, 88.0, 81.0])), bone, h)
    _paint(volume, _ellipsoid_sd(p, np.zeros(3), np.array([66.5, 86.5, 79.5])), 500.0, h)
    _paint(volume, _ellipsoid_sd(p, np.zeros(3), np.array([64.5, 84.5, 77.5])), bone, h)
    _paint(volume, _ellipsoid_sd(p, np.zeros(3), np.array([63.0, 83.0, 76.0])), 35.0, h)
    centres = {}
    for side in ears:
        sign = 1.0 if side == "left" else -1.0
        c = labyrinth_centre_canonical(sign)
        near = np.all(np.abs(p - _f32(c)) < _f32([45.0, 28.0, 28.0]), axis=-1)
        sub = volume[near]
        sub_p = p[near]
        _ear_sub = sub[:, None, None]
        _ear(_ear_sub, sub_p[:, None, None, :], sign, h, bone, capsule)
        volume[near] = _ear_sub[:, 0, 0]
        centres[side] = tuple(float(v) for v in rot @ labyrinth_centroid_canonical(sign) + np.asarray(head_offset_lps_mm))
    rng = np.random.default_rng(seed)
    if cbct:
        r2 = ((world - np.asarray(centre_lps_mm, dtype=np.float32)) ** 2).sum(-1) / 90.0**2
        volume -= (250.0 * np.clip(1 - r2, 0, 1) * (volume > 300)).astype(np.float32)
    volume += rng.normal(0, 70.0 if cbct else 50.0, volume.shape).astype(np.float32)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in d.ravel()))
    image.SetOrigin(tuple(float(v) for v in origin))
    return image, centres
