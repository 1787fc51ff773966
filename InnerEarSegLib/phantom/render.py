"""Paint the noise-free object (HU) and the two-ear label map on any grid.

Tissues are painted in order with a partial-volume membership ``clip(0.5 + depth / w, 0, 1)``
(``w`` = the grid's mean voxel size), which is what box-averaging a much finer voxelisation of the
analytic shapes gives near a smooth boundary; the labyrinth's depth comes from the exact swept-sphere
geometry (:mod:`.raster`). Head tissues are painted slab by slab; ear tissues only inside each
ear's region, so a full 512 x 512 x N head costs little more than its two ear regions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..labels import Side
from .anatomy import Labyrinth
from .raster import Grid, labels_from_depth, labyrinth_block, rasterise_depth
from .shapes import ellipsoid, tube
from .surroundings import (EAR_REGION_MM, capsule_channels, ear_region_noise, ear_solids, mastoid_air_fraction,
                           mastoid_fields, superior_canal_top, tegmen_height_mm)

METAL_HU = 9000.0


@dataclass(frozen=True, eq=False)
class EarScene:
    """One ear placed in the world: ``world = rot @ p_ear + shift``."""

    side: Side
    labyrinth: Labyrinth
    rot: np.ndarray
    shift: np.ndarray
    surroundings: dict
    effects: dict = field(default_factory=dict)  # pathology CT effects (see pathology.py)


@dataclass(frozen=True, eq=False)
class Scene:
    head: dict
    head_origin_world_mm: np.ndarray
    head_rot: np.ndarray
    tissue_hu: dict
    ears: tuple[EarScene, ...]


def _frame_coords(grid: Grid, rot: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates (x, y, z) of every voxel centre of `grid` in a frame with ``world = rot @ p + shift``."""
    a = rot.T @ grid.dmat @ np.diag(grid.spacing_mm)
    c = rot.T @ (np.asarray(grid.origin_lps_mm) - shift)
    nz, ny, nx = grid.shape_zyx
    i, j, k = (np.arange(n, dtype=np.float32) for n in (nx, ny, nz))
    out = []
    for e in range(3):
        out.append(np.float32(c[e]) + np.float32(a[e, 0]) * i[None, None, :] + np.float32(a[e, 1]) * j[None, :, None]
                   + np.float32(a[e, 2]) * k[:, None, None])
    return tuple(np.broadcast_to(o, (nz, ny, nx)) for o in out)


def _upsample_linear(coarse: np.ndarray, steps, shape) -> np.ndarray:
    """Linear interpolation of a field sampled every `steps` (z, y, x) voxels back to `shape`."""
    out = coarse
    for axis, (step, n) in enumerate(zip(steps, shape)):
        if step == 1:
            out = np.take(out, np.arange(n), axis=axis)
            continue
        pos = np.arange(n, dtype=np.float32) / np.float32(step)
        i0 = np.minimum(pos.astype(int), out.shape[axis] - 2)
        w = (pos - i0).astype(np.float32)
        bshape = [1, 1, 1]
        bshape[axis] = n
        w = w.reshape(bshape)
        out = np.take(out, i0, axis=axis) * (np.float32(1.0) - w) + np.take(out, i0 + 1, axis=axis) * w
    return out


class BlockFields:
    """Smooth ear-frame fields on a block, evaluated every ~1 mm and interpolated linearly (fast)."""

    def __init__(self, grid: Grid, rot: np.ndarray, shift: np.ndarray):
        self.shape = grid.shape_zyx
        self.steps = tuple(max(1, int(0.9 / s)) for s in grid.spacing_mm[::-1])
        coarse_shape = tuple(int(np.ceil((n - 1) / st)) + 2 for n, st in zip(self.shape, self.steps))
        coarse = Grid(coarse_shape, grid.origin_lps_mm,
                      tuple(sp * st for sp, st in zip(grid.spacing_mm, self.steps[::-1])), grid.direction)
        self.coords = _frame_coords(coarse, rot, shift)

    def sample(self, fn) -> np.ndarray:
        """``fn(x, y, z) -> values`` on the coarse points, returned on the full block (float32)."""
        values = np.asarray(fn(*self.coords), np.float32)
        return _upsample_linear(values, self.steps, self.shape)


def _membership(depth_mm, width_mm) -> np.ndarray:
    return np.clip(depth_mm * np.float32(1.0 / width_mm) + np.float32(0.5), 0.0, 1.0)


def _paint(hu, m, value) -> None:
    hu += m * (np.float32(value) - hu)


def _head_profile(head: dict, t: dict, width_mm: float, inner_tissue: str) -> tuple[np.ndarray, np.ndarray]:
    """HU as a function of depth below the skin (lookup table): air, scalp, skull tables, diploe, inside."""
    scalp, skull = head["scalp_mm"], head["skull_mm"]
    w = 0.5 * width_mm
    knots = [(-50.0, t["air"]), (-w, t["air"]), (w, t["soft"]), (scalp - w, t["soft"]), (scalp + w, t["skull"]),
             (scalp + 0.3 * skull - w, t["skull"]), (scalp + 0.3 * skull + w, t["diploe"]),
             (scalp + 0.7 * skull - w, t["diploe"]), (scalp + 0.7 * skull + w, t["skull"]),
             (scalp + skull - w, t["skull"]), (scalp + skull + w, t[inner_tissue]), (500.0, t[inner_tissue])]
    d, v = zip(*knots)
    return np.asarray(d, np.float32), np.asarray(v, np.float32)


def head_depth(x, y, z, centre, semi) -> np.ndarray:
    """Depth below the skin (mm, along the ray from the head centre; negative outside), head frame."""
    dx, dy, dz = x - np.float32(centre[0]), y - np.float32(centre[1]), z - np.float32(centre[2])
    r2 = dx * dx
    r2 += dy * dy
    r2 += dz * dz
    dx *= np.float32(1.0 / semi[0])
    dy *= np.float32(1.0 / semi[1])
    dz *= np.float32(1.0 / semi[2])
    q = dx * dx
    q += dy * dy
    q += dz * dz
    np.sqrt(q, out=q)
    np.sqrt(r2, out=r2)
    return r2 * (np.float32(1.0) - q) / np.maximum(q, np.float32(1e-3))


def paint_head(hu: np.ndarray, grid: Grid, scene: Scene, width_mm: float) -> None:
    """Air, scalp, skull tables with diploe, brain and skull-base soft tissue (in place, slab by slab).

    The head's HU depends only on the depth below the skin (and on height, for the skull base), so
    each voxel is one table lookup; `width_mm` sets the partial-volume (and PSF) ramp of every edge.
    """
    h, t = scene.head, scene.tissue_hu
    semi = np.asarray(h["head_semi_mm"], np.float32)
    centre = np.asarray(h["head_centre_mm"], np.float32)
    d_brain, v_brain = _head_profile(h, t, width_mm, "brain")
    d_soft, v_soft = _head_profile(h, t, width_mm, "soft")
    slab = 16
    for z0 in range(0, grid.shape_zyx[0], slab):
        z1 = min(z0 + slab, grid.shape_zyx[0])
        sub = grid.sub_grid((z0, 0, 0), (z1,) + tuple(grid.shape_zyx[1:]))
        x, y, z = _frame_coords(sub, scene.head_rot, scene.head_origin_world_mm)
        depth = head_depth(x, y, z, centre, semi)
        out = hu[z0:z1]
        out[...] = np.interp(depth, d_brain, v_brain)
        base = _membership(-(z + np.float32(20.0)), 3.0)  # below the skull base: soft tissue, not brain
        if float(base.max()) > 0.0:
            _paint(out, base, 0.0)
            out += base * np.interp(depth, d_soft, v_soft).astype(np.float32)


def _ear_block(grid: Grid, ear: EarScene):
    """Index range (lo, hi) zyx of `grid` that the ear region touches, or None."""
    lo, hi = EAR_REGION_MM
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    m, b = grid.ear_to_index(ear.rot, ear.shift)
    idx = corners @ m.T + b
    lo_i = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)[::-1]
    hi_i = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(grid.shape_zyx[::-1]))[::-1]
    return None if np.any(hi_i <= lo_i) else (tuple(lo_i), tuple(hi_i))


def _solid_slices(solid, m, b, shape_zyx, margin_mm):
    """Slices of a block (index affine m, b from the solid's frame) that the solid can touch, or None."""
    lo, hi = solid.bounds(margin_mm)
    corners = np.array([[p, q, r] for p in (lo[0], hi[0]) for q in (lo[1], hi[1]) for r in (lo[2], hi[2])])
    idx = corners @ m.T + b
    lo_i = np.maximum(np.floor(idx.min(axis=0)).astype(int), 0)[::-1]
    hi_i = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 1, np.array(shape_zyx[::-1]))[::-1]
    if np.any(hi_i <= lo_i):
        return None
    return tuple(slice(int(l), int(h)) for l, h in zip(lo_i, hi_i))


def _paint_solid(hu, coords, solid, value, width_mm, affine, weight=None, sdf_offset=None):
    """Paint one solid inside its bounding block; returns (slices, membership) or None."""
    sl = _solid_slices(solid, *affine, hu.shape, width_mm + (3.0 if sdf_offset is not None else 0.0))
    if sl is None:
        return None
    x, y, z = (c[sl] for c in coords)
    depth = solid.sdf(x, y, z)
    if sdf_offset is not None:
        depth = depth + sdf_offset[sl]
    m = _membership(depth, width_mm)
    if weight is not None:
        m = m * (weight[sl] if np.ndim(weight) else weight)
    _paint(hu[sl], m, value)
    return sl, m


def paint_ear(hu: np.ndarray, labels: np.ndarray, grid: Grid, scene: Scene, ear: EarScene, width_mm: float):
    """Ear-local tissues, otic capsule, pathology effects and labyrinth fluid (in place).

    Returns the ear's block of `grid` as index bounds (lo, hi) zyx, or None if the ear is outside.
    """
    block = _ear_block(grid, ear)
    if block is None:
        return None
    (z0, y0, x0), (z1, y1, x1) = block
    sub = grid.sub_grid(block[0], block[1])
    out = hu[z0:z1, y0:y1, x0:x1]
    coords = _frame_coords(sub, ear.rot, ear.shift)
    _paint_surroundings(out, sub, coords, scene, ear, width_mm)
    lab_block = labyrinth_block(sub, ear.labyrinth, ear.rot, ear.shift, 4.0)
    if lab_block is not None:
        lsl = tuple(slice(lo, hi) for lo, hi in zip(*lab_block))
        lab_vals = _paint_labyrinth(out[lsl], sub.sub_grid(*lab_block), tuple(c[lsl] for c in coords), scene, ear,
                                    width_mm)
        region = labels[z0:z1, y0:y1, x0:x1][lsl]
        np.copyto(region, (lab_vals + ear.side.label_offset).astype(np.uint8), where=lab_vals > 0)
    return block


def _paint_surroundings(out, sub: Grid, coords, scene: Scene, ear: EarScene, width_mm: float) -> None:
    """Temporal/petrous bone, mastoid cells, middle ear, canals, vessels and ossicles on the ear block."""
    affine = sub.ear_to_index(ear.rot, ear.shift)
    t, sp, lab = scene.tissue_hu, ear.surroundings, ear.labyrinth
    below_tegmen = _membership(np.float32(tegmen_height_mm(lab, sp)) - coords[2], width_mm)
    hx, hy, hz = _frame_coords(sub, scene.head_rot, scene.head_origin_world_mm)
    h = scene.head
    in_skull = _membership(head_depth(hx, hy, hz, h["head_centre_mm"], np.asarray(h["head_semi_mm"]))
                           - np.float32(h["scalp_mm"] + 1.0), width_mm)
    del hx, hy, hz
    fields = BlockFields(sub, ear.rot, ear.shift)
    seed = sp["noise_seed"]
    wobble = np.float32(sp.get("bone_edge_wobble_mm", 0.0)) * fields.sample(
        lambda x, y, z: ear_region_noise(x, y, z, seed + 2, 3.0))
    fill = ear.effects.get("middle_ear_fill_hu")  # otitis media: effusion instead of air
    for name, solid, tissue in ear_solids(lab, sp):
        if tissue == "mastoid":
            hit = _paint_solid(out, coords, solid, t["septa"], width_mm, affine, in_skull)
            if hit is not None:
                sl, m = hit
                x, y, z = (c[sl] for c in coords)
                cells = fields.sample(lambda x, y, z: mastoid_fields(x, y, z, sp, solid.centre))
                air = mastoid_air_fraction(cells[sl], sp)
                _paint(out[sl], m * air * _membership(solid.sdf(x, y, z) - 1.0, width_mm),
                       t["air"] if fill is None else fill)
            continue
        if fill is not None and tissue == "air" and name != "external auditory canal":
            _paint_solid(out, coords, solid, fill, width_mm, affine)
            continue
        bone = name in ("temporal bone", "petrous bone")
        weight = below_tegmen * in_skull if bone else None
        _paint_solid(out, coords, solid, t[tissue], width_mm, affine, weight, wobble if bone else None)
    del wobble
    if sp.get("bone_texture_hu"):  # trabecular texture of the bone (not of air, fluid or soft tissue)
        tex = fields.sample(lambda x, y, z: ear_region_noise(x, y, z, seed + 3, 1.2))
        out += np.float32(sp["bone_texture_hu"]) * tex * np.clip((out - np.float32(500.0)) / np.float32(700.0),
                                                                  0.0, 1.0)


def _paint_labyrinth(lout, lsub: Grid, lcoords, scene: Scene, ear: EarScene, width_mm: float) -> np.ndarray:
    """Otic capsule, channels through it, pathology effects and fluid; returns the labels 0-5 of the block."""
    t, sp, lab, eff = scene.tissue_hu, ear.surroundings, ear.labyrinth, ear.effects
    laffine = lsub.ear_to_index(ear.rot, ear.shift)
    depth = rasterise_depth(lsub, lab, ear.rot, ear.shift, margin_mm=width_mm)
    fluid = _membership(depth.max(axis=0), width_mm)
    sigma_vox = [sp.get("capsule_sigma_mm", 1.2) / s for s in lsub.spacing_mm[::-1]]
    capsule = np.clip(ndimage.gaussian_filter(fluid, sigma_vox, mode="nearest") / np.float32(0.035), 0.0, 1.0)
    _paint(lout, capsule, t["otic_capsule"])
    for _, solid, tissue in capsule_channels(lab, sp):
        _paint_solid(lout, lcoords, solid, t[tissue], width_mm, laffine)
    for centre, radius, value in eff.get("otosclerosis_foci", []):
        _paint_solid(lout, lcoords, ellipsoid(centre, [radius] * 3), value, width_mm, laffine, capsule)
    if eff.get("dehiscence_mm"):
        top = superior_canal_top(lab)
        roof = sp["tegmen_roof_mm"] + 0.5 * lab.params["superior_lumen_mm"] + 1.5
        carve = ellipsoid(top + [0.0, 0.0, 0.5 * roof], [eff["dehiscence_mm"] / 2, eff["dehiscence_mm"] / 2,
                                                         0.5 * roof + 0.3])
        _paint_solid(lout, lcoords, carve, t["brain"], width_mm, laffine)
    _paint(lout, fluid, t["fluid"])
    if eff.get("electrode_points") is not None:
        _paint_solid(lout, lcoords, tube(eff["electrode_points"], eff.get("electrode_radius_mm", 0.3)), METAL_HU,
                     width_mm, laffine)
    return labels_from_depth(depth)


def render(grid: Grid, scene: Scene, *, head_blur_fwhm_mm: float = 0.0
           ) -> tuple[np.ndarray, np.ndarray, list[tuple[slice, slice, slice]]]:
    """Noise-free HU (float32), two-ear labels (uint8, right 1-5, left 11-15) and the ear blocks on `grid`.

    `head_blur_fwhm_mm` widens the head's edge ramps by the PSF, so that only the returned ear blocks
    need a numerical blur (see :func:`.physics.apply_physics`).
    """
    width = float(np.prod(grid.spacing_mm) ** (1.0 / 3.0))
    hu = np.empty(grid.shape_zyx, dtype=np.float32)
    labels = np.zeros(grid.shape_zyx, dtype=np.uint8)
    paint_head(hu, grid, scene, float(np.hypot(width, head_blur_fwhm_mm)))
    blocks = []
    for ear in scene.ears:
        block = paint_ear(hu, labels, grid, scene, ear, width)
        if block is not None:
            blocks.append(tuple(slice(lo, hi) for lo, hi in zip(*block)))
    return hu, labels, blocks
