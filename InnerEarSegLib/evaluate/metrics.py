"""Overlap and surface-distance metrics in mm, honouring anisotropic voxel spacing.

Surfaces are the boundary voxels of each mask (voxels with a 6-neighbour outside the mask);
distances from one surface to the other come from a Euclidean distance transform with
``sampling=spacing_mm``. Hausdorff 95 is the 95th percentile of the symmetric set of surface
distances (both directions pooled, as in most challenge code); the mean surface distance is the
mean of that pooled set.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..geometry import spacing_zyx_mm as _spacing
from ..labels import STRUCTURES, split_two_ear


@dataclass(frozen=True)
class OverlapMetrics:
    """Dice (0-1), 95 % Hausdorff and mean surface distance (mm) of one structure.

    Distances are NaN when either mask is empty (Dice is then 0, or NaN if both are empty: :func:`dice`).
    """

    dice: float
    hd95_mm: float
    msd_mm: float
    pred_volume_mm3: float
    ref_volume_mm3: float

    def to_dict(self) -> dict:
        return asdict(self)




def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice similarity coefficient of two boolean masks, 0-1; NaN when both masks are empty.

    The project's one Dice. Two empty masks have no overlap to measure: the score is undefined and
    returned as NaN, so that means over cases (``np.nanmean``) skip it instead of counting a
    perfect score for a structure that is absent from both (a missing canal in a pathology case).
    An empty prediction against a non-empty reference (or the reverse) scores 0.

    >>> dice(np.ones(4, bool), np.array([1, 1, 0, 0], bool))
    0.6666666666666666
    """
    p, r = np.asarray(pred, bool), np.asarray(ref, bool)
    total = int(p.sum()) + int(r.sum())
    return float("nan") if total == 0 else float(2.0 * np.logical_and(p, r).sum() / total)


def surface(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels of a boolean mask (6-connected erosion removes them)."""
    m = np.asarray(mask, bool)
    return m & ~ndimage.binary_erosion(m, border_value=0)


def surface_distances_mm(pred: np.ndarray, ref: np.ndarray, spacing_mm) -> np.ndarray:
    """Pooled distances (mm) from each surface voxel of one mask to the other mask's surface."""
    s = _spacing(spacing_mm)
    sp, sr = surface(pred), surface(ref)
    if not sp.any() or not sr.any():
        return np.array([])
    d_to_ref = ndimage.distance_transform_edt(~sr, sampling=s)
    d_to_pred = ndimage.distance_transform_edt(~sp, sampling=s)
    return np.concatenate([d_to_ref[sp], d_to_pred[sr]])


def overlap_metrics(pred: np.ndarray, ref: np.ndarray, spacing_mm) -> OverlapMetrics:
    """Dice, HD95 and MSD of two boolean masks on the same grid.

    Parameters
    ----------
    pred, ref : (Z, Y, X) bool
    spacing_mm : (3,) float
        Voxel size (z, y, x) in mm.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref must share a grid: shapes {pred.shape} and {ref.shape}")
    s = _spacing(spacing_mm)
    vox = float(np.prod(s))
    if pred.any() and ref.any():
        box = _union_bbox(pred, ref, margin=2)
        dist = surface_distances_mm(pred[box], ref[box], s)
        hd95, msd = float(np.percentile(dist, 95)), float(dist.mean())
    else:
        hd95 = msd = float("nan")
    return OverlapMetrics(dice(pred, ref), hd95, msd, pred.sum() * vox, ref.sum() * vox)


def _union_bbox(a, b, *, margin):
    idx = np.argwhere(a | b)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, a.shape)
    return tuple(slice(int(x), int(y)) for x, y in zip(lo, hi))


def case_metrics(pred_labels: np.ndarray, ref_labels: np.ndarray, spacing_mm, *,
                 per_structure: bool = True) -> dict:
    """Metrics of the labyrinth (any non-zero label) and of each structure present in the reference.

    Two-ear maps are compared per structure over both ears together (each side's label of a structure
    counts as that structure, :func:`~InnerEarSegLib.labels.split_two_ear`).
    Returns ``{"labyrinth": OverlapMetrics, "cochlea": ..., ...}``; structures are only evaluated when
    the reference has per-structure labels (more than one structure value).
    """
    pred, ref = np.asarray(pred_labels), np.asarray(ref_labels)
    out = {"labyrinth": overlap_metrics(pred > 0, ref > 0, spacing_mm)}
    ref_struct = _per_structure(ref)
    if per_structure and len(np.setdiff1d(np.unique(ref_struct), [0])) > 1:
        pred_struct = _per_structure(pred)
        for s in STRUCTURES:
            out[s.key] = overlap_metrics(pred_struct == s, ref_struct == s, spacing_mm)
    return out


def _per_structure(labels: np.ndarray) -> np.ndarray:
    """Two-ear labels -> structure values with both ears merged (0 = background)."""
    ears = split_two_ear(labels)
    return sum(ears.values()).astype(np.uint8)
