"""Split a binary labyrinth mask of one ear into cochlea, vestibule and the three canals, geometrically.

Works in the ear-box frame: array (z, y, x) with x lateral, y posterior, z superior (LPS for a left
ear; a right ear's box is mirrored so the same holds). Steps:

1. **Thick and thin.** A morphological opening with a ball of ``thick_radius_mm`` (via distance
   transforms) keeps the thick parts (vestibule, cochlear turns, ampullae); what it removes are the
   thin tubes (canal arcs, crus, the cochlear apex tip).
2. **Vestibule and cochlea.** The largest thick piece is cut at its narrowest cross-section along its
   long axis (the vestibule-cochlea neck) by a watershed of the distance map; the anterior lobe is
   the cochlea (the cochlea lies anterior-medial to the vestibule). Without a neck, a lone thick
   piece is the vestibule if thin tubes (canals) open into it at two or more places or it is small,
   else the cochlea.
3. **Canals.** Thin parts and ampullae are fitted by three circles (k-circles: assign each voxel to
   the nearest circle, refit plane and circle per canal, repeat), started from the typical canal
   planes, normals and radii relative to the vestibule centre; voxels far from every circle (limbs,
   common crus) take the label of the nearest fitted canal voxel along the tube.
4. Thin pieces that touch only the cochlea are cochlea; anything left takes the nearest label.

A geometric split is an approximation: its boundaries differ from a reader's by about a lumen
radius, but it finds which structures are there and whether each canal closes its loop.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..labels import Structure

log = logging.getLogger(__name__)
_FULL = np.ones((3, 3, 3), bool)

#: Typical canal circles relative to the vestibule centre, ear-box frame (x lateral, y posterior,
#: z superior), mm: centre offset, plane normal, radius (anatomy.md: radii 3.2 / 3.1 / 2.4 mm,
#: vertical canals ~45 deg from the sagittal plane, lateral canal pitched ~24 deg).
CANAL_PRIORS = {
    Structure.SUPERIOR_CANAL: ((1.2, 0.3, 5.9), (0.71, 0.65, -0.28), 3.2),
    Structure.POSTERIOR_CANAL: ((0.1, 2.2, 1.8), (0.70, -0.64, 0.28), 3.1),
    Structure.LATERAL_CANAL: ((2.7, 1.6, 0.3), (0.0, 0.40, 0.91), 2.4),
}


@dataclass(frozen=True)
class SplitOptions:
    """Geometry of the split (mm, mm³); the defaults suit clinical and phantom masks at 0.2-0.4 mm."""

    thick_radius_mm: float = 0.7
    min_major_mm3: float = 10.0
    neck_ratio: float = 0.65
    circle_tolerance_mm: float = 1.1
    max_centre_shift_mm: float = 3.0
    max_normal_change_deg: float = 35.0
    iterations: int = 6
    min_vestibule_roundness: float = 0.4
    min_tube_mm3: float = 1.0
    lone_vestibule_max_extent_mm: float = 7.5


def _xyz_mm(idx_zyx: np.ndarray, spacing_zyx: np.ndarray) -> np.ndarray:
    return (idx_zyx * spacing_zyx)[:, ::-1]


def thick_part(mask: np.ndarray, spacing_mm, radius_mm: float) -> np.ndarray:
    """Opening of `mask` by a ball of `radius_mm` (exact, through two distance transforms)."""
    s = np.asarray(spacing_mm, float)
    core = ndimage.distance_transform_edt(mask, sampling=s) > radius_mm
    if not core.any():
        return np.zeros_like(mask)
    return (ndimage.distance_transform_edt(~core, sampling=s) <= radius_mm) & mask


def _neck_split(piece: np.ndarray, dist: np.ndarray, s: np.ndarray, opt: SplitOptions):
    """(posterior lobe, anterior lobe) of a thick piece cut at its narrowest section, or None."""
    from skimage.segmentation import watershed

    idx = np.argwhere(piece)
    pts = _xyz_mm(idx, s)
    centred = pts - pts.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov(centred.T))
    axis = vecs[:, -1]
    if axis[1] > 0:  # point anterior (-y): the cochlea is the anterior lobe
        axis = -axis
    t = centred @ axis
    step = float(s.min())
    bins = np.floor((t - t.min()) / step).astype(int)
    area = np.bincount(bins).astype(float) * np.prod(s)  # volume per slab, proportional to the area
    area = np.convolve(area, np.ones(3) / 3.0, mode="same")
    cum = np.cumsum(np.bincount(bins)) * np.prod(s)
    ok = np.flatnonzero((cum >= opt.min_major_mm3) & (cum[-1] - cum >= opt.min_major_mm3))
    if len(ok) == 0:
        return None
    cut = int(ok[np.argmin(area[ok])])
    back, front = area[: cut + 1].max(), area[cut:].max()
    if area[cut] > opt.neck_ratio * min(back, front):
        return None
    markers = np.zeros(piece.shape, np.int32)
    for label, side in ((1, bins < cut - 1), (2, bins > cut + 1)):
        sel = idx[side]
        d = dist[tuple(sel.T)]
        core = sel[d >= 0.7 * d.max()]
        markers[tuple(core.T)] = label
    lobes = watershed(-dist, markers, mask=piece)
    return lobes == 1, lobes == 2


def _openings(blob: np.ndarray, thin_labels: np.ndarray) -> int:
    """How many thin pieces touch `blob`."""
    ring = ndimage.binary_dilation(blob, _FULL) & ~blob
    return len(np.setdiff1d(np.unique(thin_labels[ring]), [0]))


def _looks_like_vestibule(blob, s, opt) -> bool:
    """A thick piece is vestibule-like when it is compact (longest extent below
    ``lone_vestibule_max_extent_mm``) and not flat; the cochlea is wider (A-value ~9 mm) and flat
    (height ~3 mm)."""
    from .evidence import extent_mm

    ext = extent_mm(blob, s)
    return ext[0] <= opt.lone_vestibule_max_extent_mm and ext[2] >= opt.min_vestibule_roundness * ext[0]


def _vestibule_and_cochlea(mask, thick, dist, s, opt):
    comps, n = ndimage.label(thick, structure=_FULL)
    vols = np.bincount(comps.ravel())[1:] * np.prod(s)
    major = [i + 1 for i in np.argsort(vols)[::-1] if vols[i] >= opt.min_major_mm3]
    vest = np.zeros_like(mask)
    coch = np.zeros_like(mask)
    if not major:
        return vest, coch
    thin_labels, _ = ndimage.label(mask & ~thick, structure=_FULL)
    small = np.bincount(thin_labels.ravel()) * np.prod(s) < opt.min_tube_mm3
    small[0] = False
    thin_labels[small[thin_labels]] = 0
    first = comps == major[0]
    lobes = _neck_split(first, dist, s, opt)
    if lobes is not None and _openings(lobes[0], thin_labels) == 0 and thin_labels.any():
        lobes = None  # canals exist but none opens into the "vestibule" lobe: a neck inside the cochlea
    if lobes is not None:
        vest, coch = lobes
        rest = major[1:]
    else:
        rest = major
    for i in rest:
        blob = comps == i
        if not vest.any() and _looks_like_vestibule(blob, s, opt):
            vest |= blob
        elif not coch.any():
            coch |= blob
        else:  # a further big thick piece: join the structure it lies closer to
            c = np.argwhere(blob).mean(axis=0)
            dv = np.linalg.norm((np.argwhere(vest).mean(axis=0) - c) * s) if vest.any() else np.inf
            dc = np.linalg.norm((np.argwhere(coch).mean(axis=0) - c) * s)
            (vest if dv <= dc else coch)[blob] = True
    if coch.any() and vest.any() and _looks_like_vestibule(coch, s, opt) and not _looks_like_vestibule(vest, s, opt):
        vest, coch = coch, vest
    return vest, coch


def _fit_circle(pts: np.ndarray, prior, opt: SplitOptions):
    """Refit (centre, normal, radius) to points, staying near the prior circle."""
    c0, n0, r0 = prior
    if len(pts) < 25:
        return prior
    centred = pts - pts.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov(centred.T))
    n = vecs[:, 0] * (1 if vecs[:, 0] @ n0 >= 0 else -1)
    if np.degrees(np.arccos(np.clip(n @ n0, -1, 1))) > opt.max_normal_change_deg:
        n = n0
    e1 = np.cross(n, [1.0, 0, 0] if abs(n[0]) < 0.9 else [0, 1.0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    rel = pts - c0
    u, v = rel @ e1, rel @ e2
    a = np.column_stack([u, v, np.ones_like(u)])
    sol, *_ = np.linalg.lstsq(a, u * u + v * v, rcond=None)
    cu, cv = sol[0] / 2, sol[1] / 2
    r = float(np.sqrt(max(sol[2] + cu * cu + cv * cv, 0.0)))
    c = c0 + cu * e1 + cv * e2 + ((pts.mean(axis=0) - c0) @ n) * n
    if not 1.6 <= r <= 4.8 or np.linalg.norm(c - c0) > opt.max_centre_shift_mm:
        return c0, n, r0
    return c, n, r


def _circle_distance(pts, circle):
    c, n, r = circle
    rel = pts - c
    h = rel @ n
    rho = np.linalg.norm(rel - h[:, None] * n, axis=1)
    return np.sqrt(h * h + (rho - r) ** 2)


def _assign_canals(cand: np.ndarray, vest: np.ndarray, s: np.ndarray, opt: SplitOptions) -> np.ndarray:
    """Labels 3/4/5 on the canal candidate voxels (k-circles, then propagation along the tubes)."""
    from skimage.segmentation import watershed

    out = np.zeros(cand.shape, np.uint8)
    idx = np.argwhere(cand)
    if len(idx) == 0:
        return out
    pts = _xyz_mm(idx, s)
    vc = _xyz_mm(np.argwhere(vest), s).mean(axis=0) if vest.any() else pts.mean(axis=0)
    priors = {k: (vc + np.asarray(c, float), np.asarray(n, float) / np.linalg.norm(n), float(r))
              for k, (c, n, r) in CANAL_PRIORS.items()}
    circles = dict(priors)
    keys = list(circles)
    for _ in range(opt.iterations):
        dists = np.stack([_circle_distance(pts, circles[k]) for k in keys])
        best = dists.argmin(axis=0)
        near = dists.min(axis=0) <= opt.circle_tolerance_mm
        for j, k in enumerate(keys):
            sel = near & (best == j)
            circles[k] = _fit_circle(pts[sel], priors[k], opt) if sel.sum() >= 25 else priors[k]
    dists = np.stack([_circle_distance(pts, circles[k]) for k in keys])
    best = dists.argmin(axis=0)
    near = dists.min(axis=0) <= opt.circle_tolerance_mm
    markers = np.zeros(cand.shape, np.int32)
    sel = idx[near]
    markers[tuple(sel.T)] = np.asarray([int(keys[j]) for j in best[near]], np.int32)
    if not markers.any():
        return out
    grown = watershed(np.zeros(cand.shape, np.float32), markers, mask=cand, connectivity=3)
    return grown.astype(np.uint8)


def split_labyrinth(mask: np.ndarray, spacing_mm, *, options: SplitOptions | None = None) -> np.ndarray:
    """Per-structure labels 0-5 from a binary labyrinth mask of one ear in the ear-box frame.

    Parameters
    ----------
    mask : (Z, Y, X) bool
        One ear's labyrinth; x lateral, y posterior, z superior.
    spacing_mm : (3,) float
        Voxel size (z, y, x) in mm.
    options : SplitOptions, optional

    Returns
    -------
    (Z, Y, X) uint8
        1 cochlea, 2 vestibule, 3 superior, 4 lateral, 5 posterior canal; every mask voxel is labelled.
    """
    opt = options or SplitOptions()
    mask = np.asarray(mask, bool)
    s = np.asarray(spacing_mm, float)
    labels = np.zeros(mask.shape, np.uint8)
    if not mask.any():
        return labels
    dist = ndimage.distance_transform_edt(mask, sampling=s)
    thick = thick_part(mask, s, opt.thick_radius_mm)
    vest, coch = _vestibule_and_cochlea(mask, thick, dist, s, opt)
    rest = mask & ~vest & ~coch
    pieces, n = ndimage.label(rest, structure=_FULL)
    cand = np.zeros_like(mask)
    if n:
        ring_v = np.unique(pieces[ndimage.binary_dilation(vest, _FULL)]) if vest.any() else np.array([0])
        ring_c = np.unique(pieces[ndimage.binary_dilation(coch, _FULL)]) if coch.any() else np.array([0])
        only_coch = np.setdiff1d(ring_c, np.concatenate([ring_v, [0]]))
        coch |= np.isin(pieces, only_coch)
        cand = rest & ~np.isin(pieces, only_coch)
    labels[coch] = Structure.COCHLEA
    labels[vest] = Structure.VESTIBULE
    canal = _assign_canals(cand, vest, s, opt)
    labels[canal > 0] = canal[canal > 0]
    unlabelled = mask & (labels == 0)
    if unlabelled.any() and labels.any():
        _, near = ndimage.distance_transform_edt(labels == 0, sampling=s, return_indices=True)
        labels[unlabelled] = labels[tuple(near[:, unlabelled])]
    return labels
