"""Split a binary labyrinth mask of one ear into cochlea, vestibule and the three canals, geometrically.

Works in the ear-box frame: array (z, y, x) with x lateral, y posterior, z superior (LPS for a left
ear; a right ear's box is mirrored so the same holds). Steps:

1. **Vestibule.** An opening with a ball of ``core_radius_mm`` (exact, via distance transforms)
   keeps only the thickest part, the vestibule (inscribed radius ~1.7-1.9 mm; canals <= 0.5 mm,
   ampullae and the cochlear duct <= 1.1 mm); it is grown back by ``vestibule_grow_mm`` inside the
   thinner ``thick_radius_mm`` opening. A thick piece that is wide and flat (a cochlea whose turns
   merged into one blob) is not a vestibule; a piece holding both is cut at its narrowest section
   along its long axis by a watershed of the distance map.
2. **Cochlea.** What lies more than ``cochlea_offset_mm`` ahead of the vestibule centre along
   ``cochlea_direction`` (anterior: the cochlea lies anterior-medial to the vestibule).
3. **Canals.** The rest is fitted by three circles (k-circles: assign each voxel to the nearest
   circle, refit plane and circle per canal, with an annealed tolerance), started from typical canal
   planes, normals, radii and positions relative to the vestibule centre. A canal whose voxels cover
   less than ``min_arc_deg`` of its circle is absent; voxels far from every circle (limbs, common
   crus) take the label of the nearest fitted canal voxel along the tube.
4. Anything left takes the nearest label.

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
    Structure.SUPERIOR_CANAL: ((0.6, 1.5, 5.3), (0.71, 0.65, -0.28), 3.2),
    Structure.POSTERIOR_CANAL: ((-0.3, 2.9, 1.0), (0.70, -0.64, 0.28), 3.1),
    Structure.LATERAL_CANAL: ((3.0, 1.3, 0.4), (0.0, 0.40, 0.91), 2.4),
}


@dataclass(frozen=True)
class SplitOptions:
    """Geometry of the split (mm, mm³); the defaults suit clinical and phantom masks at 0.2-0.4 mm."""

    thick_radius_mm: float = 0.7
    core_radius_mm: float = 1.2
    vestibule_grow_mm: float = 1.2
    min_core_mm3: float = 2.0
    min_major_mm3: float = 10.0
    neck_ratio: float = 0.65
    vestibule_max_extent_mm: float = 9.0
    min_vestibule_roundness: float = 0.4
    cochlea_direction: tuple = (-0.22, -0.97, -0.1)
    cochlea_offset_mm: float = 2.5
    vestibule_from_centroid_mm: tuple = (0.3, 2.7, -0.6)
    circle_tolerance_mm: float = 1.1
    initial_tolerance_mm: float = 2.5
    max_centre_shift_mm: float = 3.5
    max_normal_change_deg: float = 35.0
    iterations: int = 8
    min_arc_deg: float = 100.0


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


def _looks_like_vestibule(blob, s, opt) -> bool:
    """A thick piece is vestibule-like when it is compact (longest extent below
    ``vestibule_max_extent_mm``) and not flat; a cochlea is wider (A-value ~9 mm) and flat (~3 mm)."""
    from .evidence import extent_mm

    ext = extent_mm(blob, s)
    return ext[0] <= opt.vestibule_max_extent_mm and ext[2] >= opt.min_vestibule_roundness * ext[0]


def _vestibule_and_cochlea_cores(mask, dist, s, opt):
    """Vestibule (and, where the cochlea is as thick, cochlea) cores from a wide opening."""
    core = thick_part(mask, s, opt.core_radius_mm)
    comps, n = ndimage.label(core, structure=_FULL)
    vest = np.zeros_like(mask)
    coch = np.zeros_like(mask)
    if n == 0:
        return vest, coch
    vols = np.bincount(comps.ravel())[1:] * np.prod(s)
    order = [i + 1 for i in np.argsort(vols)[::-1] if vols[i] >= opt.min_core_mm3]
    for i in order:
        blob = comps == i
        if not vest.any():
            lobes = _neck_split(blob, dist, s, opt)
            if lobes is not None and not _looks_like_vestibule(blob, s, opt):
                vest, coch = lobes
                if _looks_like_vestibule(coch, s, opt) and not _looks_like_vestibule(vest, s, opt):
                    vest, coch = coch, vest
            elif _looks_like_vestibule(blob, s, opt):
                vest = blob
            else:
                coch |= blob
        elif not _looks_like_vestibule(blob, s, opt) and vols[i - 1] >= opt.min_major_mm3:
            coch |= blob
    if vest.any():  # grow the core back by up to `vestibule_grow_mm` inside the thinner opening
        near = ndimage.distance_transform_edt(~vest, sampling=s) <= opt.vestibule_grow_mm
        vest = near & thick_part(mask, s, opt.thick_radius_mm) & ~coch
        labels, _ = ndimage.label(vest, structure=_FULL)
        vest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
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


def _arc_deg(pts: np.ndarray, circle) -> float:
    """Degrees of the circle covered by the points (10-degree sectors around its centre)."""
    if len(pts) == 0:
        return 0.0
    c, n, _ = circle
    e1 = np.cross(n, [1.0, 0, 0] if abs(n[0]) < 0.9 else [0, 1.0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    rel = pts - c
    ang = np.degrees(np.arctan2(rel @ e2, rel @ e1)) % 360.0
    return 10.0 * len(np.unique((ang // 10).astype(int)))


def _assign_canals(cand: np.ndarray, vc: np.ndarray, s: np.ndarray, opt: SplitOptions) -> np.ndarray:
    """Labels 3/4/5 on the canal candidate voxels (k-circles, then propagation along the tubes)."""
    from skimage.segmentation import watershed

    out = np.zeros(cand.shape, np.uint8)
    idx = np.argwhere(cand)
    if len(idx) == 0:
        return out, {}
    pts = _xyz_mm(idx, s)
    priors = {k: (vc + np.asarray(c, float), np.asarray(n, float) / np.linalg.norm(n), float(r))
              for k, (c, n, r) in CANAL_PRIORS.items()}
    circles = dict(priors)
    keys = list(circles)
    # anneal the tolerance: start wide (the priors are only typical), end at the lumen scale
    for tol in np.linspace(opt.initial_tolerance_mm, opt.circle_tolerance_mm, opt.iterations):
        dists = np.stack([_circle_distance(pts, circles[k]) for k in keys])
        best = dists.argmin(axis=0)
        near = dists.min(axis=0) <= tol
        for j, k in enumerate(keys):
            sel = near & (best == j)
            circles[k] = _fit_circle(pts[sel], priors[k], opt) if sel.sum() >= 25 else priors[k]
    dists = np.stack([_circle_distance(pts, circles[k]) for k in keys])
    best = dists.argmin(axis=0)
    near = dists.min(axis=0) <= opt.circle_tolerance_mm
    kept = {}
    for j, k in enumerate(keys):  # a canal is there only if its voxels run along enough of its circle
        sel = near & (best == j)
        if _arc_deg(pts[sel], circles[k]) < opt.min_arc_deg:
            near &= best != j
        else:
            kept[k] = circles[k]
    markers = np.zeros(cand.shape, np.int32)
    sel = idx[near]
    markers[tuple(sel.T)] = np.asarray([int(keys[j]) for j in best[near]], np.int32)
    if not markers.any():
        return out, {}
    grown = watershed(np.zeros(cand.shape, np.float32), markers, mask=cand, connectivity=3)
    return grown.astype(np.uint8), kept


def arc_gap_deg(mask: np.ndarray, s: np.ndarray, circle, *, tolerance_mm: float = 0.6) -> float:
    """Longest run (degrees, 5-degree samples) of the fitted canal circle with no labyrinth within
    `tolerance_mm`: small for a whole canal, large where the top of its arc is lost."""
    c, n, r = circle
    e1 = np.cross(n, [1.0, 0, 0] if abs(n[0]) < 0.9 else [0, 1.0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    ang = np.radians(np.arange(0.0, 360.0, 5.0))
    ring = c + r * (np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2)
    outside = ndimage.distance_transform_edt(~mask, sampling=s)
    idx = np.rint(ring[:, ::-1] / s).astype(int)
    valid = np.all((idx >= 0) & (idx < mask.shape), axis=1)
    covered = np.zeros(len(ang), bool)
    covered[valid] = outside[tuple(idx[valid].T)] <= tolerance_mm
    gap, best = 0, 0
    for k in range(2 * len(ang)):  # longest circular run of uncovered samples
        i = k % len(ang)
        gap = gap + 1 if not covered[i] else 0
        best = max(best, min(gap, len(ang)))
    return 5.0 * best


def split_labyrinth(mask: np.ndarray, spacing_mm, *, options: SplitOptions | None = None,
                    return_details: bool = False):
    """Per-structure labels 0-5 from a binary labyrinth mask of one ear in the ear-box frame.

    Parameters
    ----------
    mask : (Z, Y, X) bool
        One ear's labyrinth; x lateral, y posterior, z superior.
    spacing_mm : (3,) float
        Voxel size (z, y, x) in mm.
    options : SplitOptions, optional
    return_details : bool
        Also return per-canal evidence from the fitted circles: ``{key: {"arc_gap_deg",
        "circle_radius_mm"}}`` (see :func:`arc_gap_deg`).

    Returns
    -------
    (Z, Y, X) uint8
        1 cochlea, 2 vestibule, 3 superior, 4 lateral, 5 posterior canal; every mask voxel is labelled.
        With ``return_details``, a tuple (labels, details).
    """
    opt = options or SplitOptions()
    mask = np.asarray(mask, bool)
    s = np.asarray(spacing_mm, float)
    labels = np.zeros(mask.shape, np.uint8)
    if not mask.any():
        return (labels, {}) if return_details else labels
    idx = np.argwhere(mask)  # work on the bounding box (plus a margin): distance maps dominate the cost
    margin = int(np.ceil(2.0 / s.min())) + 1
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    labels[box], details = _split_cropped(mask[box], s, opt)
    return (labels, details) if return_details else labels


def _split_cropped(mask: np.ndarray, s: np.ndarray, opt: SplitOptions) -> np.ndarray:
    labels = np.zeros(mask.shape, np.uint8)
    dist = ndimage.distance_transform_edt(mask, sampling=s)
    vest, coch = _vestibule_and_cochlea_cores(mask, dist, s, opt)
    pts_all = _xyz_mm(np.argwhere(mask), s)
    if vest.any():
        vest_centre = _xyz_mm(np.argwhere(vest), s).mean(axis=0)
    else:  # no vestibule: where it would be relative to the rest of the labyrinth
        vest_centre = pts_all.mean(axis=0) + np.asarray(opt.vestibule_from_centroid_mm)
    rest = mask & ~vest & ~coch
    u = np.asarray(opt.cochlea_direction, float)
    u /= np.linalg.norm(u)
    idx = np.argwhere(rest)
    ahead = np.zeros_like(mask)
    ahead[tuple(idx[(_xyz_mm(idx, s) - vest_centre) @ u >= opt.cochlea_offset_mm].T)] = True
    pieces, n = ndimage.label(ahead | coch, structure=_FULL)
    if n:
        big = np.bincount(pieces.ravel()) * np.prod(s) >= opt.min_core_mm3
        big[0] = False
        coch |= big[pieces]
    cand = mask & ~vest & ~coch
    labels[coch] = Structure.COCHLEA
    labels[vest] = Structure.VESTIBULE
    canal, circles = _assign_canals(cand, vest_centre, s, opt)
    labels[canal > 0] = canal[canal > 0]
    details = {Structure(k).key: {"arc_gap_deg": arc_gap_deg(mask, s, circ),
                                  "circle_radius_mm": round(float(circ[2]), 2)} for k, circ in circles.items()}
    unlabelled = mask & (labels == 0)
    if unlabelled.any() and labels.any():
        _, near = ndimage.distance_transform_edt(labels == 0, sampling=s, return_indices=True)
        labels[unlabelled] = labels[tuple(near[:, unlabelled])]
    return labels, details
