"""Measurements on label maps (not on the generator's parameters): volumes, cochlear turns along the
centre line, canal planes and radii, canal loops. Used by the tests, the benchmark and the docs.

All functions take a per-ear uint8 label array (z, y, x) with labels 1-5 and an isotropic or
anisotropic spacing (z, y, x) in mm.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.graph import MCP_Geometric
from skimage.measure import euler_number

from ..labels import Structure


def volumes_mm3(labels: np.ndarray, spacing_zyx_mm) -> dict[str, float]:
    """Volume of each structure and of the whole labyrinth (mm^3)."""
    vox = float(np.prod(spacing_zyx_mm))
    counts = np.bincount(labels.ravel(), minlength=6)
    out = {st.key: float(counts[int(st)] * vox) for st in Structure}
    out["labyrinth"] = float(sum(out.values()))
    return out


def _coords_mm(mask: np.ndarray, spacing) -> np.ndarray:
    return np.argwhere(mask).astype(float) * np.asarray(spacing, float)


def cochlear_turns_geodesic(labels: np.ndarray, spacing_zyx_mm) -> float:
    """Turns of the cochlea along a geodesic centre line (a lower bound where turns merge).

    The centre line follows the geodesic distance inside the cochlea label from its basal end
    (the voxel nearest the vestibule); the mean position of each 0.3 mm geodesic shell is a
    centre-line point, and the turns are its unwrapped angle around the modiolar axis (the cochlea's
    axis of least extent, through the apical end) divided by 360 deg. Where turns merge at CT
    resolution the geodesic takes the shortcut, so this never over-counts.
    """
    sp = np.asarray(spacing_zyx_mm, float)
    coch = labels == Structure.COCHLEA
    if coch.sum() < 20:
        return 0.0
    zz, yy, xx = np.nonzero(coch)
    lo = np.array([zz.min(), yy.min(), xx.min()])
    hi = np.array([zz.max(), yy.max(), xx.max()]) + 1
    crop = coch[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    vest = labels == Structure.VESTIBULE
    if vest.any():
        dist_v = ndimage.distance_transform_edt(~vest, sampling=sp)[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        start = np.unravel_index(np.argmin(np.where(crop, dist_v, np.inf)), crop.shape)
    else:
        start = tuple(np.argwhere(crop)[0])
    costs = np.where(crop, 1.0, np.inf)
    geo, _ = MCP_Geometric(costs, sampling=tuple(sp)).find_costs([start])
    pts = np.argwhere(crop) * sp
    g = geo[crop]
    ok = np.isfinite(g)
    pts, g = pts[ok], g[ok]
    bins = np.floor(g / 0.3).astype(int)
    centre = np.array([pts[bins == b].mean(axis=0) for b in np.unique(bins)])
    if len(centre) < 5:
        return 0.0
    cov = np.cov((pts - pts.mean(axis=0)).T)
    axis = np.linalg.eigh(cov)[1][:, 0]
    u = np.linalg.svd(np.eye(3) - np.outer(axis, axis))[0][:, 0]
    v = np.cross(axis, u)
    # the modiolus passes through the apex: the end of the cone (along the axis) with the smaller spread
    h = pts @ axis
    ends = [pts[h <= np.quantile(h, 0.12)], pts[h >= np.quantile(h, 0.88)]]
    spread = [np.linalg.norm(e - e.mean(axis=0), axis=1).mean() for e in ends]
    pole = ends[int(np.argmin(spread))].mean(axis=0)
    a, b = (centre - pole) @ u, (centre - pole) @ v
    ang = np.unwrap(np.arctan2(b, a))
    radius = np.hypot(a, b)
    keep = radius > 0.35  # points on the axis have no defined angle
    return float(abs(ang[keep][-1] - ang[keep][0]) / (2 * np.pi)) if keep.sum() > 2 else 0.0


def fit_canal(labels: np.ndarray, structure: Structure, spacing_zyx_mm, *, exclude_near_vestibule_mm: float = 1.5
              ) -> tuple[np.ndarray, float, np.ndarray]:
    """Plane normal (unit, in array (z, y, x) order), arc radius (mm) and arc centre (mm) fitted to a canal.

    Voxels within `exclude_near_vestibule_mm` of the vestibule (limbs, common crus) are left out;
    the plane is the least-squares plane (PCA), the radius an algebraic circle fit in that plane.
    """
    sp = np.asarray(spacing_zyx_mm, float)
    mask = labels == structure
    vest = labels == Structure.VESTIBULE
    if vest.any() and exclude_near_vestibule_mm > 0:
        mask &= ndimage.distance_transform_edt(~vest, sampling=sp) > exclude_near_vestibule_mm

    pts = _coords_mm(mask, sp)
    if len(pts) < 20:
        raise ValueError(f"{structure.key} canal has too few voxels to fit ({len(pts)})")
    keep = np.ones(len(pts), bool)
    for _ in range(3):  # trimmed fit: limbs and the common crus are not on the arc
        normal, radius, centre, resid = _plane_circle(pts[keep])
        if keep.sum() < 40:
            break
        res_all = _circle_residual(pts, normal, radius, centre)
        keep = res_all <= np.quantile(res_all, 0.8)
    return normal, radius, centre


def _plane_circle(pts: np.ndarray):
    mean = pts.mean(axis=0)
    vecs = np.linalg.eigh(np.cov((pts - mean).T))[1]
    normal, e1, e2 = vecs[:, 0], vecs[:, 2], vecs[:, 1]
    a, b = (pts - mean) @ e1, (pts - mean) @ e2
    design = np.stack([a, b, np.ones_like(a)], axis=1)
    sol, *_ = np.linalg.lstsq(design, a * a + b * b, rcond=None)
    ca, cb = sol[0] / 2, sol[1] / 2
    radius = float(np.sqrt(max(sol[2] + ca * ca + cb * cb, 0.0)))
    centre = mean + ca * e1 + cb * e2
    return normal, radius, centre, _circle_residual(pts, normal, radius, centre)


def _circle_residual(pts, normal, radius, centre) -> np.ndarray:
    rel = pts - centre
    h = rel @ normal
    in_plane = np.linalg.norm(rel - np.outer(h, normal), axis=1)
    return np.hypot(in_plane - radius, h)


def plane_angle_deg(n1: np.ndarray, n2: np.ndarray) -> float:
    """Angle between two planes given their normals (0-90 deg folded to 90 +- deviation, 0-180 range)."""
    c = abs(float(np.dot(n1, n2)) / (np.linalg.norm(n1) * np.linalg.norm(n2)))
    return float(np.degrees(np.arccos(np.clip(c, 0.0, 1.0))))


def loops(mask: np.ndarray) -> int:
    """Number of independent tunnels (first Betti number) of a binary mask: b1 = b0 + b2 - Euler."""
    mask = np.pad(mask.astype(bool), 1)
    b0 = int(ndimage.label(mask, structure=np.ones((3, 3, 3)))[1])
    b2 = int(ndimage.label(~mask)[1]) - 1  # enclosed cavities (6-connected background)
    chi = int(euler_number(mask, connectivity=3))
    return b0 + b2 - chi


def canal_loops(labels: np.ndarray) -> dict[str, int]:
    """Tunnels of each canal together with the vestibule (a normal canal closes exactly one loop)."""
    out = {}
    for st in (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL):
        out[st.key] = loops((labels == st) | (labels == Structure.VESTIBULE)) if (labels == st).any() else 0
    return out


def cochlear_turns(labels: np.ndarray, spacing_zyx_mm, *, sectors: int = 36) -> float:
    """Turns of the cochlea counted as separate duct cross-sections per angular sector.

    Around the modiolar axis (least-extent axis through the apex), each of `sectors` half-planes
    cuts the duct once per turn; the mean number of separate cross-sections (connected blobs in the
    (radius, height) half-plane) is the number of turns. Turns that merge at this resolution count
    once (under-count). The first 1.5 mm of the duct next to the vestibule (the hook) is left out.
    """
    sp = np.asarray(spacing_zyx_mm, float)
    coch = labels == Structure.COCHLEA
    pts_all = _coords_mm(coch, sp)
    if len(pts_all) < 50:
        return 0.0
    vest = labels == Structure.VESTIBULE
    if vest.any():  # leave out the basal hook where the duct leaves the vestibule
        coch = coch & (ndimage.distance_transform_edt(~vest, sampling=sp) > 1.5)
    pts = _coords_mm(coch, sp)
    if len(pts) < 50:
        return 0.0
    axis = np.linalg.eigh(np.cov((pts - pts.mean(axis=0)).T))[1][:, 0]
    h = pts @ axis
    ends = [pts[h <= np.quantile(h, 0.12)], pts[h >= np.quantile(h, 0.88)]]
    spread = [np.linalg.norm(e - e.mean(axis=0), axis=1).mean() for e in ends]
    pole = ends[int(np.argmin(spread))].mean(axis=0)
    u = np.linalg.svd(np.eye(3) - np.outer(axis, axis))[0][:, 0]
    v = np.cross(axis, u)
    rel = pts - pole
    phi = np.arctan2(rel @ v, rel @ u)
    rho = np.hypot(rel @ u, rel @ v)
    hh = rel @ axis
    cell = 0.5 * float(sp.max())
    ri = np.floor(rho / cell).astype(int)
    hi = np.floor((hh - hh.min()) / cell).astype(int)
    sector = np.floor((phi + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
    counts = []
    for k in range(sectors):
        sel = sector == k
        if not sel.any():
            counts.append(0)
            continue
        img = np.zeros((ri[sel].max() + 2, hi.max() + 2), bool)
        img[ri[sel], hi[sel]] = True
        img = ndimage.binary_closing(img, iterations=1) | img
        lab, n = ndimage.label(img, structure=np.ones((3, 3)))
        sizes = np.bincount(lab.ravel())[1:]
        counts.append(int((sizes >= 3).sum()))
    return float(np.mean(counts))
