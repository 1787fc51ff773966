"""Rasterise labyrinth primitives onto any voxel grid: per-structure signed depth in mm.

A grid is described by :class:`Grid` (array shape (z, y, x), LPS origin, spacing (x, y, z) and a
3x3 direction matrix), exactly like a SimpleITK image. The ear is placed in the world by a rigid
(possibly mirroring) map ``world = rot @ p_ear + shift``. Because that map preserves distances,
swept spheres stay spheres on the grid, so a tube is rasterised by stamping each of its spheres
into a small block around it: the value stored per voxel is the depth ``radius - distance`` (mm,
positive inside), maximised over all primitives of a structure. Labels are then evaluated at the
voxel centres from the exact geometry (no resampling of a coarse label map).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .anatomy import Ellipsoid, Labyrinth, Tube, resample_polyline


@dataclass(frozen=True)
class Grid:
    """Voxel grid: ``shape_zyx``, ``origin_lps_mm`` (x, y, z), ``spacing_mm`` (x, y, z), row-major direction."""

    shape_zyx: tuple[int, int, int]
    origin_lps_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    @classmethod
    def of_image(cls, image: sitk.Image) -> "Grid":
        return cls(tuple(int(v) for v in image.GetSize()[::-1]), tuple(image.GetOrigin()),
                   tuple(image.GetSpacing()), tuple(image.GetDirection()))

    def image(self, array_zyx: np.ndarray) -> sitk.Image:
        """Wrap an array on this grid as a SimpleITK image."""
        img = sitk.GetImageFromArray(array_zyx)
        img.SetOrigin(self.origin_lps_mm)
        img.SetSpacing(self.spacing_mm)
        img.SetDirection(self.direction)
        return img

    @property
    def dmat(self) -> np.ndarray:
        return np.asarray(self.direction, float).reshape(3, 3)

    def ear_to_index(self, rot: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Affine (m, b) with continuous index (x, y, z) = m @ p_ear + b."""
        inv_sp = np.diag(1.0 / np.asarray(self.spacing_mm, float))
        m = inv_sp @ self.dmat.T @ rot
        b = inv_sp @ self.dmat.T @ (np.asarray(shift, float) - np.asarray(self.origin_lps_mm, float))
        return m, b

    def sub_grid(self, lo_zyx, hi_zyx) -> "Grid":
        """The block [lo, hi) of this grid as its own grid."""
        lo = np.asarray(lo_zyx)[::-1].astype(float)
        origin = np.asarray(self.origin_lps_mm) + self.dmat @ (lo * np.asarray(self.spacing_mm))
        shape = tuple(int(h - l) for l, h in zip(lo_zyx, hi_zyx))
        return Grid(shape, tuple(float(v) for v in origin), self.spacing_mm, self.direction)


def _stencil(ext: np.ndarray, spacing: np.ndarray, reach_mm: float) -> np.ndarray:
    """Integer offsets (K, 3) x, y, z of a ball of `reach_mm` (plus rounding slack) on the grid."""
    ox, oy, oz = (np.arange(-e, e + 1) for e in ext)
    off = np.stack(np.meshgrid(ox, oy, oz, indexing="ij"), axis=-1).reshape(-1, 3)
    dist = np.sqrt(((off * spacing) ** 2).sum(axis=1))
    return off[dist <= reach_mm + 0.5 * np.sqrt((spacing**2).sum())].astype(np.int32)


def _stamp_spheres(depth: np.ndarray, centres_xyz: np.ndarray, radii: np.ndarray, spacing: np.ndarray,
                   margin_mm: float, thin_axis_mm: np.ndarray | None = None, aspect: np.ndarray | None = None) -> None:
    """Max-accumulate ``r - distance`` of each sphere into `depth` (z, y, x) where it exceeds -margin.

    With `thin_axis_mm` (unit, grid axes x, y, z in mm) and `aspect` (per sphere), the distance is the
    spheroid's: ``sqrt(|d|^2 + (1/aspect^2 - 1) (d . axis)^2)``, so the semi-axis along it is aspect x r.
    """
    if len(centres_xyz) == 0:
        return
    shape_xyz = np.array(depth.shape[::-1])
    flat_depth = depth.reshape(-1)
    # group spheres by stencil size so thin canals do not pay for the ampullae's stencil
    ext_all = np.ceil((radii[:, None] + margin_mm) / spacing[None, :]).astype(int) + 1
    keys = ext_all.max(axis=1)
    for key in np.unique(keys):
        sel = keys == key
        c_all, r_all = centres_xyz[sel], radii[sel]
        k_all = None if aspect is None else (1.0 / aspect[sel] ** 2 - 1.0).astype(np.float32)
        ext = ext_all[sel].max(axis=0)
        keep = np.all((c_all + ext > -1) & (c_all - ext < shape_xyz), axis=1)
        c_all, r_all = c_all[keep], r_all[keep]
        k_all = None if k_all is None else k_all[keep]
        if len(c_all) == 0:
            continue
        off = _stencil(ext, spacing, float(r_all.max()) + margin_mm)
        chunk = max(1, 300_000 // len(off))
        sp32 = spacing.astype(np.float32)
        for i in range(0, len(c_all), chunk):
            c, r = c_all[i:i + chunk], r_all[i:i + chunk]
            base = np.rint(c).astype(np.int32)
            frac = ((base - c) * spacing).astype(np.float32)
            vox = base[:, None, :] + off[None, :, :]
            delta = frac[:, None, :] + off[None, :, :].astype(np.float32) * sp32
            dist2 = (delta * delta).sum(axis=-1)
            if k_all is not None:
                along = delta @ thin_axis_mm.astype(np.float32)
                dist2 = dist2 + k_all[i:i + chunk, None] * along * along
            val = r.astype(np.float32)[:, None] - np.sqrt(dist2)
            ok = (val > -margin_mm) & np.all((vox >= 0) & (vox < shape_xyz), axis=-1)
            v = vox[ok].astype(np.int64)
            flat = (v[:, 2] * shape_xyz[1] + v[:, 1]) * shape_xyz[0] + v[:, 0]
            np.maximum.at(flat_depth, flat, val[ok])


def _stamp_ellipsoid(depth: np.ndarray, blob: Ellipsoid, m: np.ndarray, b: np.ndarray, spacing: np.ndarray,
                     margin_mm: float) -> None:
    """Max-accumulate an approximate signed depth of an ellipsoid."""
    ext_mm = np.sqrt(((blob.axes * blob.semi_mm[None, :]) ** 2).sum(axis=1)) + margin_mm
    # bounding box in index space: transform the 8 corners of the ear-frame box
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * ext_mm
    idx = (corners + blob.centre_mm) @ m.T + b
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(depth.shape[::-1]))
    if np.any(hi <= lo):
        return
    gx, gy, gz = (np.arange(lo[k], hi[k], dtype=float) for k in range(3))
    minv = np.linalg.inv(m)
    # ear-frame coordinates of the block voxels, relative to the blob centre, in blob axes
    zz, yy, xx = np.meshgrid(gz, gy, gx, indexing="ij")
    pts = np.stack([xx, yy, zz], axis=-1) - b
    p_ear = pts @ minv.T - blob.centre_mm
    q = (p_ear @ blob.axes) / blob.semi_mm
    norm_q = np.sqrt((q * q).sum(axis=-1))
    val = (1.0 - norm_q) * blob.semi_mm.min()
    view = depth[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
    np.maximum(view, val.astype(depth.dtype), out=view)


def labyrinth_block(grid: Grid, labyrinth: Labyrinth, rot: np.ndarray, shift: np.ndarray, pad_mm: float):
    """Index range (lo, hi) zyx of `grid` covering the labyrinth plus `pad_mm`, or None if outside."""
    lo, hi = labyrinth_bounds_mm(labyrinth)
    lo, hi = lo - pad_mm, hi + pad_mm
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    m, b = grid.ear_to_index(rot, shift)
    idx = corners @ m.T + b
    lo_i = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)[::-1]
    hi_i = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(grid.shape_zyx[::-1]))[::-1]
    return None if np.any(hi_i <= lo_i) else (tuple(int(v) for v in lo_i), tuple(int(v) for v in hi_i))


def labyrinth_bounds_mm(labyrinth: Labyrinth) -> tuple[np.ndarray, np.ndarray]:
    """Ear-frame bounding box of all primitives."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for p in labyrinth.primitives():
        if isinstance(p, Tube):
            lo = np.minimum(lo, (p.points_mm - p.radii_mm[:, None]).min(axis=0))
            hi = np.maximum(hi, (p.points_mm + p.radii_mm[:, None]).max(axis=0))
        else:
            ext = np.sqrt(((p.axes * p.semi_mm[None, :]) ** 2).sum(axis=1))
            lo, hi = np.minimum(lo, p.centre_mm - ext), np.maximum(hi, p.centre_mm + ext)
    return lo, hi


def rasterise_labels(grid: Grid, labyrinth: Labyrinth, rot: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """uint8 labels 1-5 of one ear on the whole of `grid` (exact geometry at the voxel centres)."""
    out = np.zeros(grid.shape_zyx, np.uint8)
    block = labyrinth_block(grid, labyrinth, rot, shift, 0.5)
    if block is None:
        return out
    sub = grid.sub_grid(*block)
    (z0, y0, x0), (z1, y1, x1) = block
    out[z0:z1, y0:y1, x0:x1] = labels_from_depth(rasterise_depth(sub, labyrinth, rot, shift, margin_mm=0.05))
    return out


def rasterise_depth(grid: Grid, labyrinth: Labyrinth, rot: np.ndarray, shift: np.ndarray, *,
                    margin_mm: float = 0.3, step_mm: float = 0.2) -> np.ndarray:
    """Per-structure signed depth (mm) on `grid`: array (5, z, y, x) float32, ``-margin_mm`` far outside.

    Index 0 is the cochlea (label 1), ... index 4 the posterior canal (label 5). Crop the grid
    first (:func:`labyrinth_block`) to keep this cheap.
    """
    depth = np.full((5,) + tuple(grid.shape_zyx), -margin_mm, dtype=np.float32)
    m, b = grid.ear_to_index(rot, shift)
    spacing = np.asarray(grid.spacing_mm, float)
    for prim in labyrinth.primitives():
        target = depth[int(prim.structure) - 1]
        if isinstance(prim, Tube):
            step = min(step_mm, 0.5 * float(prim.radii_mm.min()))
            pts, s = resample_polyline(prim.points_mm, step)
            s_src = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(prim.points_mm, axis=0), axis=1))])
            radii = np.interp(s, s_src, prim.radii_mm)
            axis = aspect = None
            if prim.thin_axis is not None:
                axis = (m @ prim.thin_axis) * spacing  # ear frame -> grid axes in mm
                axis = axis / np.linalg.norm(axis)
                aspect = np.interp(s, s_src, prim.aspect_ratio)
            _stamp_spheres(target, pts @ m.T + b, radii, spacing, margin_mm, axis, aspect)
        else:
            _stamp_ellipsoid(target, prim, m, b, spacing, margin_mm)
    return depth


def labels_from_depth(depth: np.ndarray) -> np.ndarray:
    """uint8 labels 1-5 where the deepest structure has depth > 0, else 0."""
    best = depth.argmax(axis=0).astype(np.uint8) + 1
    return np.where(depth.max(axis=0) > 0, best, 0).astype(np.uint8)
