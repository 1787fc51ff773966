"""Fluid pockets enclosed by dense bone: the array maths behind :mod:`.locate`.

A voxel of fluid density is *enclosed* when dense bone lies within a given radius along most of
14 directions (6 axes, 8 diagonals). The labyrinth inside its otic capsule is such a pocket. Arrays
are ``(z, y, x)`` on an isotropic grid; distances in mm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Resampling value outside the scanned field of view (neither air nor tissue).
OUTSIDE_HU = -4000.0
_DIRECTIONS = np.array([d for d in np.ndindex(3, 3, 3) if d != (1, 1, 1)]) - 1
DIRECTIONS_14 = np.array([d for d in _DIRECTIONS if np.count_nonzero(d) in (1, 3)])


@dataclass(frozen=True)
class BoneLevels:
    """Intensity levels (HU) of one scan, calibrated on its own bone."""

    bone_hu: float  # typical dense bone of this scan (99th percentile of bone voxels)
    dense_hu: float  # at or above: dense bone (otic capsule, petrous)
    soft_hu: float  # below (and above air): fluid / soft tissue, incl. partial volume
    air_hu: float = -400.0


def shifted(a: np.ndarray, offset_zyx) -> np.ndarray:
    """``out[p] = a[p + offset]`` (False where p + offset falls outside the array)."""
    out = np.zeros_like(a)
    src, dst = [], []
    for o, n in zip(offset_zyx, a.shape):
        o = int(o)
        if abs(o) >= n:
            return out
        src.append(slice(max(o, 0), n + min(o, 0)))
        dst.append(slice(max(-o, 0), n - max(o, 0)))
    out[tuple(dst)] = a[tuple(src)]
    return out


def any_within(a: np.ndarray, direction, n_steps: int) -> np.ndarray:
    """``out[p]`` = any of ``a[p + k * direction]`` for k = 1..n_steps (binary doubling: O(log n) shifts)."""
    d = np.asarray(direction)
    result = np.zeros_like(a)
    block, length, offset, n = shifted(a, d), 1, 0, int(n_steps)
    while n > 0:
        if n & 1:
            result |= shifted(block, offset * d) if offset else block
            offset += length
        n >>= 1
        if n:
            block = block | shifted(block, length * d)
            length *= 2
    return result


def enclosed_mask(values: np.ndarray, levels: BoneLevels, spacing_mm: float, *, radius_mm: float = 6.0,
                  min_directions: int = 12, candidates: np.ndarray | None = None) -> np.ndarray:
    """Fluid voxels (between air and ``soft_hu``, not next to air) with dense bone (>= ``dense_hu``)
    within `radius_mm` along at least `min_directions` of the 14 directions."""
    dense = values >= levels.dense_hu
    soft = (values > levels.air_hu) & (values < levels.soft_hu)
    air = (values < levels.air_hu) & (values > OUTSIDE_HU + 1)
    soft &= ~ndimage.binary_dilation(air, iterations=1)
    if candidates is not None:
        soft &= candidates
    if not soft.any():
        return soft
    steps = max(2, int(round(radius_mm / spacing_mm)))
    hits = np.zeros(values.shape, dtype=np.uint8)
    for direction in DIRECTIONS_14:
        diag = np.count_nonzero(direction) > 1
        n = max(1, int(round(steps / (np.sqrt(3) if diag else 1.0))))
        hits += any_within(dense, direction, n)
    return soft & (hits >= min_directions)


def bin2(mask: np.ndarray) -> np.ndarray:
    """Count of True voxels in each 2x2x2 block (float32; the array is zero-padded to even sizes)."""
    a = np.pad(mask, [(0, n % 2) for n in mask.shape]).view(np.uint8)
    total = np.zeros([n // 2 for n in a.shape], dtype=np.uint8)
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                total += a[dz::2, dy::2, dx::2]
    return total.astype(np.float32)


def without_wide_canals(mask: np.ndarray, spacing_mm: float, max_radius_mm: float) -> np.ndarray:
    """Remove the parts of `mask` wider than any labyrinth lumen (an opening with a ball of that radius).

    The internal auditory canal (radius 1.9-3 mm), the carotid canal and the jugular bulb are wider
    than the vestibule (half-width 1.5-1.7 mm), the cochlear turns and the canals.
    """
    if not mask.any():
        return mask
    margin = int(np.ceil(max_radius_mm / spacing_mm)) + 2
    idx = np.argwhere(mask)
    box = tuple(slice(max(lo - margin, 0), hi + margin + 1) for lo, hi in zip(idx.min(axis=0), idx.max(axis=0)))
    sub = mask[box]
    core = ndimage.distance_transform_edt(sub) * spacing_mm > max_radius_mm
    if not core.any():
        return mask
    wide = ndimage.distance_transform_edt(~core) * spacing_mm <= max_radius_mm + spacing_mm
    out = mask.copy()
    out[box] = sub & ~wide
    return out


def main_pocket(enclosed: np.ndarray, values: np.ndarray, spacing_mm: float,
                 max_radius_mm: float = 2.3) -> np.ndarray:
    """The labyrinth-like pocket, plus labyrinth-like pockets within 7 mm of it.

    Wide canals are cut away first (:func:`without_wide_canals`). Each remaining pocket is scored
    by its volume, its distance to the window's centre and the density of its wall: the otic
    capsule around the labyrinth is the densest bone of the window, while the internal auditory
    canal, carotid canal and jugular bulb run through ordinary petrous bone.
    """
    enclosed = without_wide_canals(enclosed, spacing_mm, max_radius_mm)
    labels, n_labels = ndimage.label(ndimage.binary_closing(enclosed, iterations=1) | enclosed,
                                     structure=np.ones((3, 3, 3)))
    if n_labels == 0:
        return enclosed
    labels[~enclosed] = 0
    bright_hu = float(np.percentile(values, 99.5))  # metal clipped by the caller
    mid = (np.asarray(enclosed.shape) - 1) / 2
    pockets = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        box = tuple(slice(max(b.start - 3, 0), b.stop + 3) for b in box)
        pocket = labels[box] == label
        volume_mm3 = pocket.sum() * spacing_mm**3
        if volume_mm3 < 2.0:
            continue
        shell = ndimage.binary_dilation(pocket, iterations=2) & ~enclosed[box]
        wall = float(values[box][shell].mean()) / bright_hu if shell.any() else 0.0
        wall_weight = float(np.clip((wall - 0.55) / 0.2, 0.05, 1.0))
        com = np.argwhere(pocket).mean(axis=0) + [b.start for b in box]
        dist_mm = float(np.linalg.norm(com - mid) * spacing_mm)
        pockets.append((label, com, wall_weight, volume_mm3 * wall_weight * np.exp(-(dist_mm / 12.0) ** 2)))
    if not pockets:
        return np.zeros_like(enclosed)
    main = max(pockets, key=lambda p: p[3])
    keep = [p[0] for p in pockets
            if p[0] == main[0] or (p[2] >= 0.5 and np.linalg.norm(p[1] - main[1]) * spacing_mm <= 7.0)]
    return np.isin(labels, keep)
