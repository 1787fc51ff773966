"""Post-processing of class probabilities into per-ear structure labels (the seed paper's recipe).

Steps, each switchable through :class:`PostprocessOptions`:

1. labyrinth foreground probability ``1 - p_background``;
2. 3-D Gaussian filter, σ = 2.5 voxels (seed paper);
3. Otsu threshold on the 256-bin histogram of the filtered image (seed paper;
   ``skimage.filters.threshold_otsu(nbins=256)``), or a fixed ``threshold`` when Otsu is off;
4. structure labels by argmax over the structure classes inside that foreground;
5. removal of connected foreground islands smaller than ``min_island_mm3``;
6. optionally, only the largest connected piece of each structure is kept; other pieces take the
   label of the nearest kept voxel.

Note: on a 0.3 mm box grid, σ = 2.5 voxels (0.75 mm) is close to the radius of a semicircular
canal's lumen (0.4-0.5 mm); the filtered canal probability then peaks far below the body's, and
Otsu can drop thin canals. See docs/model.md, for measured numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class PostprocessOptions:
    """Options of :func:`postprocess`; the defaults follow the seed paper.

    Parameters
    ----------
    gaussian : bool
        Smooth the foreground probability with a 3-D Gaussian.
    sigma_vox : float
        Gaussian σ in voxels of the box grid (paper: 2.5).
    otsu : bool
        Threshold the (filtered) foreground with Otsu's method; else use `threshold`.
    otsu_bins : int
        Histogram bins for Otsu (paper: 256).
    threshold : float
        Fixed foreground threshold in [0, 1] when `otsu` is off.
    remove_islands : bool
        Remove connected foreground pieces smaller than `min_island_mm3`.
    min_island_mm3 : float
        Smallest kept foreground piece, in mm³.
    keep_largest_per_structure : bool
        Keep only the largest connected piece of each structure (others are relabelled to the
        nearest kept structure).
    """

    gaussian: bool = True
    sigma_vox: float = 2.5
    otsu: bool = True
    otsu_bins: int = 256
    threshold: float = 0.5
    remove_islands: bool = True
    min_island_mm3: float = 1.0
    keep_largest_per_structure: bool = False

    def __post_init__(self) -> None:
        if not self.sigma_vox > 0:
            raise ValueError(f"sigma_vox must be > 0 voxels, got {self.sigma_vox!r}")
        if int(self.otsu_bins) < 2:
            raise ValueError(f"otsu_bins must be >= 2, got {self.otsu_bins!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        if self.min_island_mm3 < 0:
            raise ValueError(f"min_island_mm3 must be >= 0 mm³, got {self.min_island_mm3!r}")


def _spacing_tuple(spacing_mm) -> tuple[float, float, float]:
    s = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,))
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"spacing_mm must be one or three positive numbers (z, y, x), got {spacing_mm!r}")
    return tuple(float(v) for v in s)


def foreground_mask(foreground_probability: np.ndarray, *, options: PostprocessOptions) -> np.ndarray:
    """Steps 2-3: Gaussian (optional) and Otsu/fixed threshold of a (Z, Y, X) probability -> bool mask."""
    from skimage.filters import threshold_otsu

    p = np.asarray(foreground_probability, dtype=np.float32)
    if options.gaussian:
        p = ndimage.gaussian_filter(p, sigma=float(options.sigma_vox), mode="constant", cval=0.0)
    if not options.otsu:
        return p > options.threshold
    if float(p.max()) - float(p.min()) < 1e-6:  # flat image: Otsu is undefined
        return np.zeros(p.shape, dtype=bool)
    return p > threshold_otsu(p, nbins=int(options.otsu_bins))


def remove_small_islands(mask: np.ndarray, *, min_size_mm3: float, spacing_mm) -> np.ndarray:
    """Drop 26-connected pieces of a bool mask smaller than `min_size_mm3`."""
    voxel_mm3 = float(np.prod(_spacing_tuple(spacing_mm)))
    labelled, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return mask.copy()
    sizes_mm3 = np.bincount(labelled.ravel())[1:] * voxel_mm3
    keep = np.concatenate([[False], sizes_mm3 >= min_size_mm3])
    return keep[labelled]


def keep_largest_per_structure(labels: np.ndarray) -> np.ndarray:
    """Keep the largest 26-connected piece of each label; other pieces take the nearest kept label."""
    kept = np.zeros_like(labels)
    for value in np.unique(labels[labels > 0]):
        pieces, n = ndimage.label(labels == value, structure=np.ones((3, 3, 3), bool))
        largest = 1 + int(np.argmax(np.bincount(pieces.ravel())[1:]))
        kept[pieces == largest] = value
    orphans = (labels > 0) & (kept == 0)
    if orphans.any() and kept.any():
        _, nearest = ndimage.distance_transform_edt(kept == 0, return_indices=True)
        kept[orphans] = kept[tuple(idx[orphans] for idx in nearest)]
    return kept


def postprocess(probabilities: np.ndarray, *, options: PostprocessOptions | None = None,
                spacing_mm=0.3) -> np.ndarray:
    """Turn softmax probabilities into per-ear labels.

    Parameters
    ----------
    probabilities : ndarray, shape (C, Z, Y, X), float
        Class probabilities; class 0 is background. ``C = 6`` gives labels 0-5 (structures),
        ``C = 2`` a binary labyrinth mask 0/1.
    options : PostprocessOptions, optional
        Defaults follow the seed paper (Gaussian σ 2.5 voxels, Otsu with 256 bins).
    spacing_mm : float or (z, y, x) floats
        Voxel spacing in mm, for the island size.

    Returns
    -------
    ndarray of uint8, shape (Z, Y, X)

    Examples
    --------
    >>> p = np.zeros((2, 9, 9, 9), np.float32); p[0] = 1; p[:, 2:7, 2:7, 2:7] = [[[[0.0]]], [[[1.0]]]]
    >>> int(postprocess(p, options=PostprocessOptions(gaussian=False)).sum())
    125
    """
    options = options or PostprocessOptions()
    probs = np.asarray(probabilities)
    if probs.ndim != 4 or probs.shape[0] < 2:
        raise ValueError(f"probabilities must have shape (C >= 2, Z, Y, X), got {probs.shape}")
    fg = foreground_mask(1.0 - probs[0], options=options)
    if options.remove_islands and options.min_island_mm3 > 0:
        fg = remove_small_islands(fg, min_size_mm3=options.min_island_mm3, spacing_mm=spacing_mm)
    labels = np.zeros(fg.shape, dtype=np.uint8)
    if probs.shape[0] == 2:
        labels[fg] = 1
    else:
        labels[fg] = (1 + np.argmax(probs[1:, fg], axis=0)).astype(np.uint8)
    if options.keep_largest_per_structure:
        labels = keep_largest_per_structure(labels)
    return labels
