"""Shape of one labyrinth label map, measured the same way for the phantom and for real surfaces.

:func:`measure_labyrinth` takes a per-ear uint8 label array (z, y, x), labels 1-5, and its spacing
(z, y, x) in mm, and returns a :class:`LabyrinthShape`: volumes, cochlear basal diameter (A-value),
width (B-value), height and turns, canal arc radii and lumen diameters, the angles between the canal
planes, the vestibule's principal axes, the length of the common crus, and where each structure's
centroid lies in the *anatomical frame* (:func:`anatomical_frame`). Nothing here reads the generator's
parameters, so ``benchmarks/compare_anatomy.py`` can put the phantom beside voxelised real labyrinths.

Boundary convention (one for the phantom and the real surfaces): a voxel of the labyrinth belongs to
the structure whose own wall is the nearer -- the phantom labels the deepest primitive
(:func:`.raster.labels_from_depth`), the real surfaces' voxels take the nearest labelled triangle
(``benchmarks/real_labyrinths.voxelise``); the vestibule ends where a canal's or the cochlea's lumen
leaves it, each ampulla belongs to its canal, and inside the common crus the superior and posterior
canals lie side by side, each running down to the vestibule.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from ..labels import Structure
from .measure import cochlear_turns, fit_canal, plane_angle_deg, volumes_mm3

CANALS = (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL)
NEAR_VESTIBULE_MM = 2.0


def anatomical_frame(centroids_mm: dict[Structure, np.ndarray]) -> tuple[np.ndarray, np.ndarray, bool]:
    """The ear frame from structure centroids: ``p_ear = rot @ (p - origin)``; returns (rot, origin, mirrored).

    Origin: the vestibule centroid. +z: towards the superior canal's centroid (the highest structure).
    +y (posterior): the direction from the cochlea's to the posterior canal's centroid, made
    orthogonal to z. +x = y x z, which for a left ear in right-handed coordinates points lateral
    (left-ear chirality, as :mod:`.anatomy`'s ear frame); if the lateral canal's centroid lies on the
    -x side the ear has the other chirality and the frame mirrors it (``mirrored`` True,
    ``det(rot) = -1``), so that +x is lateral for every ear.
    """
    c = {st: np.asarray(v, float) for st, v in centroids_mm.items()}
    origin = c[Structure.VESTIBULE]
    z = c[Structure.SUPERIOR_CANAL] - origin
    z /= np.linalg.norm(z)
    y = c[Structure.POSTERIOR_CANAL] - c[Structure.COCHLEA]
    y -= np.dot(y, z) * z
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    mirrored = bool(np.dot(c[Structure.LATERAL_CANAL] - origin, x) < 0)
    if mirrored:
        x = -x
    return np.stack([x, y, z]), origin, mirrored


@dataclass(frozen=True)
class LabyrinthShape:
    """Measured shape of one labyrinth (mm, mm^3, degrees); positions in the anatomical frame."""

    volume_mm3: dict[str, float]
    cochlea_basal_diameter_mm: float
    cochlea_width_mm: float
    cochlea_height_mm: float
    cochlea_turns: float
    canal_radius_mm: dict[str, float]
    canal_lumen_mm: dict[str, float]  # mean of the narrower 80 % of the centre line (leaves the ampulla out)
    #: each canal's volume within :data:`NEAR_VESTIBULE_MM` of the vestibule (its ampulla and openings)
    canal_near_vestibule_mm3: dict[str, float]
    #: each canal's widest inscribed diameter within :data:`NEAR_VESTIBULE_MM` of the vestibule (its ampulla)
    ampulla_mm: dict[str, float]
    #: each canal's lumen across its centre line (see :func:`canal_cross_section`): "<canal>.area_mm2",
    #: ".width_mm" (major axis) and ".height_mm" (minor axis)
    canal_section: dict[str, float]
    cochlea_lumen_mm: dict[str, float]  # "median" and "p90" (basal turn) along the centre line
    canal_angle_deg: dict[str, float]  # "superior-lateral", "superior-posterior", "lateral-posterior"
    vestibule_axes_mm: tuple[float, float, float]  # full lengths, largest first
    common_crus_mm: float
    #: x lateral, y posterior, z superior, vestibule at 0; by the frame's construction the superior
    #: canal has only z ("superior": (z,)) and the posterior canal shares the cochlea's x ((y, z))
    centroid_mm: dict[str, tuple[float, ...]]
    #: centre of each canal's fitted arc (:func:`.measure.fit_canal`), same frame (x, y, z): where the
    #: arc lies relative to the vestibule, which the centroids mix with how much ampulla the label holds
    canal_centre_mm: dict[str, tuple[float, float, float]]

    def flat(self) -> dict[str, float]:
        """One level of ``name -> value`` for tables."""
        out: dict[str, float] = {}
        for key, val in asdict(self).items():
            if isinstance(val, dict):
                for k, v in val.items():
                    if isinstance(v, (tuple, list)):
                        axes = "xyz"[3 - len(v):]
                        out.update({f"{key}.{k}.{a}": float(c) for a, c in zip(axes, v)})
                    else:
                        out[f"{key}.{k}"] = float(v)
            elif isinstance(val, (tuple, list)):
                out.update({f"{key}.{i}": float(v) for i, v in enumerate(val)})
            else:
                out[key] = float(val)
        return out


def head_orientation_deg(labels: np.ndarray, spacing_zyx_mm, to_head: np.ndarray) -> dict[str, float]:
    """How the ear frame of a label map lies in the head: the rotation taking the head's axes to the ear frame's.

    ``to_head`` (3, 3) turns the label map's axes into the head's (left-ear chirality: a right ear's map is
    mirrored first). Returns the rotation vector of ``to_head @ rot.T`` (``rot`` from
    :func:`anatomical_frame` of the map's centroids) in degrees, ``x``/``y``/``z``, and its ``angle``.
    Real labyrinths 01-40 in their own scanners: (-11.2, 11.7, -24.3), 29 deg.
    """
    sp = np.asarray(spacing_zyx_mm, float)
    cent = {st: _points_xyz_mm(labels == st, sp).mean(axis=0) for st in Structure}
    rot, _, mirrored = anatomical_frame(cent)
    if mirrored:
        raise ValueError("head_orientation_deg needs a left-ear label map (mirror a right ear's first)")
    v = Rotation.from_matrix(np.asarray(to_head, float) @ rot.T).as_rotvec(degrees=True)
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2]), "angle": float(np.linalg.norm(v))}


def _points_xyz_mm(mask: np.ndarray, spacing_zyx_mm) -> np.ndarray:
    return (np.argwhere(mask) * np.asarray(spacing_zyx_mm, float))[:, ::-1]


def _feret_2d(pts2: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest caliper diameter of a 2-D point set and its unit direction."""
    hull = pts2[ConvexHull(pts2).vertices]
    d = np.linalg.norm(hull[:, None] - hull[None], axis=2)
    i, j = np.unravel_index(np.argmax(d), d.shape)
    return float(d[i, j]), (hull[j] - hull[i]) / max(d[i, j], 1e-9)


def cochlea_dimensions_mm(labels: np.ndarray, spacing_zyx_mm) -> tuple[float, float, float]:
    """(basal diameter, width, height) of the cochlea label.

    The modiolar axis is the cochlea's axis of least extent (PCA of its voxels). Basal diameter: the
    largest caliper diameter of the cochlea projected onto the plane across that axis (the A-value's
    chord from the round window through the modiolus); width: the caliper across it (B-value);
    height: the extent along the axis. Voxel centres are used, so add one voxel for outer walls.
    """
    pts = _points_xyz_mm(labels == Structure.COCHLEA, spacing_zyx_mm)
    if len(pts) < 20:
        return 0.0, 0.0, 0.0
    rel = pts - pts.mean(axis=0)
    vecs = np.linalg.eigh(np.cov(rel.T))[1]
    axis, e1, e2 = vecs[:, 0], vecs[:, 2], vecs[:, 1]
    plane = np.stack([rel @ e1, rel @ e2], axis=1)
    diameter, direction = _feret_2d(plane)
    across = np.array([-direction[1], direction[0]])
    width = float(np.ptp(plane @ across))
    height = float(np.ptp(rel @ axis))
    return diameter, width, height


def _centre_line(labels: np.ndarray, structure: Structure, sp: np.ndarray, away_from_vestibule_mm: float) -> np.ndarray:
    """Voxels of `structure` where its distance transform is a local maximum across the duct (3x3x3),
    farther than `away_from_vestibule_mm` from the vestibule (not applied to the vestibule itself)."""
    mask = labels == structure
    edt = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    ridge = mask & (edt >= ndimage.maximum_filter(edt, size=3) - 1e-6)
    vest = labels == Structure.VESTIBULE
    if vest.any() and structure is not Structure.VESTIBULE:
        ridge &= ndimage.distance_transform_edt(~vest, sampling=sp) > away_from_vestibule_mm
    return ridge


def lumen_diameters_mm(labels: np.ndarray, structure: Structure, spacing_zyx_mm, *,
                       away_from_vestibule_mm: float = 1.5) -> np.ndarray:
    """Lumen diameters along a duct's centre line: twice the distance from each centre-line voxel to the wall.

    The centre line is where the in-structure distance transform is a local maximum across the
    duct (3x3x3 maximum filter), farther than `away_from_vestibule_mm` from the vestibule (limbs and
    openings are not lumen). The wall is the labyrinth's 0.5 iso-surface (marching cubes), so the
    distance is continuous rather than a multiple of the voxel size.
    """
    from scipy.spatial import cKDTree
    from skimage.measure import marching_cubes

    sp = np.asarray(spacing_zyx_mm, float)
    if np.count_nonzero(labels == structure) < 20:
        return np.zeros(0)
    ridge = _centre_line(labels, structure, sp, away_from_vestibule_mm)
    if not ridge.any():
        return np.zeros(0)
    wall, *_ = marching_cubes(np.pad(labels > 0, 1).astype(np.float32), 0.5, spacing=tuple(sp))
    dist, _ = cKDTree(wall - sp).query(np.argwhere(ridge) * sp)
    return 2.0 * dist


def ampulla_measures(labels: np.ndarray, spacing_zyx_mm) -> tuple[dict[str, float], dict[str, float]]:
    """Per canal: volume (mm^3) within :data:`NEAR_VESTIBULE_MM` of the vestibule, and the widest inscribed
    diameter (mm, twice the labyrinth's distance transform) of the canal's voxels there.

    Where the vestibule ends and a canal begins is where labellings differ most (the ampullae sit on the
    vestibule's wall), so these two numbers say whether the phantom draws its ampullae as the real labels do.
    """
    sp = np.asarray(spacing_zyx_mm, float)
    near = ndimage.distance_transform_edt(labels != Structure.VESTIBULE, sampling=sp) < NEAR_VESTIBULE_MM
    depth = ndimage.distance_transform_edt(np.pad(labels > 0, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    volume, diameter = {}, {}
    for st in CANALS:
        m = (labels == st) & near
        volume[st.key] = float(m.sum() * sp.prod())
        diameter[st.key] = float(2.0 * depth[m].max()) if m.any() else 0.0
    return volume, diameter


def canal_cross_section(labels: np.ndarray, structure: Structure, spacing_zyx_mm, *,
                        away_from_vestibule_mm: float = 2.5, step_mm: float = 0.4,
                        slab_mm: float = 0.3) -> tuple[float, float, float]:
    """(area mm^2, width mm, height mm) of a canal's lumen across its own centre line, medians along it.

    Centre-line points (the ridge :func:`lumen_diameters_mm` uses, farther than `away_from_vestibule_mm`
    from the vestibule) are taken every `step_mm`; the local direction is the main axis of the ridge
    within 0.8 mm. Across it, the canal's voxels in a slab `slab_mm` thick and within 1.2 mm give the
    section: area = their volume / `slab_mm`; width and height = 4 x the standard deviation along the
    section's major and minor axes (the full axes of a uniform ellipse; a round lumen gives its diameter
    twice). Measured across the centre line, so a canal's arc need not be a circle.
    """
    from scipy.spatial import cKDTree

    sp = np.asarray(spacing_zyx_mm, float)
    mask = labels == structure
    if mask.sum() < 50:
        return 0.0, 0.0, 0.0
    ridge_mm = np.argwhere(_centre_line(labels, structure, sp, away_from_vestibule_mm)) * sp
    voxels_mm = np.argwhere(mask) * sp
    if len(ridge_mm) < 10:
        return 0.0, 0.0, 0.0
    ridge_tree, voxel_tree = cKDTree(ridge_mm), cKDTree(voxels_mm)
    chosen: list[int] = []
    taken = np.zeros(len(ridge_mm), bool)
    for i in range(len(ridge_mm)):  # centre-line points at least step_mm apart
        if not taken[i]:
            chosen.append(i)
            taken[ridge_tree.query_ball_point(ridge_mm[i], step_mm)] = True
    area, width, height = [], [], []
    for i in chosen:
        near = ridge_mm[ridge_tree.query_ball_point(ridge_mm[i], 0.8)]
        if len(near) < 4:
            continue
        direction = np.linalg.eigh(np.cov((near - near.mean(axis=0)).T))[1][:, -1]
        rel = voxels_mm[voxel_tree.query_ball_point(ridge_mm[i], 1.2)] - ridge_mm[i]
        section = rel[np.abs(rel @ direction) <= 0.5 * slab_mm]
        if len(section) < 10:
            continue
        flat = section - np.outer(section @ direction, direction)
        lam = np.sort(np.linalg.eigvalsh(np.cov(flat.T)))[::-1]  # two in-section, one ~0 along the canal
        area.append(len(section) * sp.prod() / slab_mm)
        width.append(4.0 * np.sqrt(max(lam[0], 0.0)))
        height.append(4.0 * np.sqrt(max(lam[1], 0.0)))
    if not area:
        return 0.0, 0.0, 0.0
    return float(np.median(area)), float(np.median(width)), float(np.median(height))


def vestibule_axes_mm(labels: np.ndarray, spacing_zyx_mm) -> tuple[float, float, float]:
    """Full axis lengths of the ellipsoid with the vestibule's second moments (2 sqrt(5 lambda)), largest first."""
    pts = _points_xyz_mm(labels == Structure.VESTIBULE, spacing_zyx_mm)
    if len(pts) < 10:
        return 0.0, 0.0, 0.0
    lam = np.sort(np.linalg.eigvalsh(np.cov((pts - pts.mean(axis=0)).T)))[::-1]
    return tuple(float(2.0 * np.sqrt(5.0 * max(v, 0.0))) for v in lam)


def common_crus_mm(labels: np.ndarray, spacing_zyx_mm) -> float:
    """Length of the common crus: extent, along its main axis, of where the superior and posterior canals touch."""
    sup = labels == Structure.SUPERIOR_CANAL
    post = labels == Structure.POSTERIOR_CANAL
    touch = (sup & ndimage.binary_dilation(post)) | (post & ndimage.binary_dilation(sup))
    pts = _points_xyz_mm(touch, spacing_zyx_mm)
    if len(pts) < 5:
        return 0.0
    axis = np.linalg.eigh(np.cov((pts - pts.mean(axis=0)).T))[1][:, -1]
    return float(np.ptp(pts @ axis))


def _trimmed_mean(d: np.ndarray) -> float:
    """Mean of the values up to the 80th percentile (0 for none)."""
    return float(d[d <= np.percentile(d, 80)].mean()) if len(d) else 0.0


def measure_labyrinth(labels: np.ndarray, spacing_zyx_mm) -> LabyrinthShape:
    """Every measure of :class:`LabyrinthShape` on one ear's label map (all five structures present).

    Raises
    ------
    ValueError
        If a structure is absent (its centroid, and so the anatomical frame, is undefined).
    """
    sp = np.asarray(spacing_zyx_mm, float)
    missing = [st.key for st in Structure if not np.any(labels == st)]
    if missing:
        raise ValueError(f"measure_labyrinth needs all five structures; missing: {missing}")
    cent = {st: _points_xyz_mm(labels == st, sp).mean(axis=0) for st in Structure}
    rot, origin, _ = anatomical_frame(cent)
    pos = {st: rot @ (cent[st] - origin) for st in Structure}
    # the frame is built from these centroids: superior lies on +z, cochlea and posterior share x
    centroid = {"cochlea": tuple(float(v) for v in pos[Structure.COCHLEA]),
                "lateral": tuple(float(v) for v in pos[Structure.LATERAL_CANAL]),
                "posterior": (float(pos[Structure.POSTERIOR_CANAL][1]), float(pos[Structure.POSTERIOR_CANAL][2])),
                "superior": (float(pos[Structure.SUPERIOR_CANAL][2]),)}
    normals, radius, lumen, arc_centre = {}, {}, {}, {}
    for st in CANALS:
        normals[st.key], radius[st.key], centre_zyx = fit_canal(labels, st, sp)
        arc_centre[st.key] = tuple(float(v) for v in rot @ (np.asarray(centre_zyx)[::-1] - origin))
        lumen[st.key] = _trimmed_mean(lumen_diameters_mm(labels, st, sp))
    angles = {f"{a}-{b}": plane_angle_deg(normals[a], normals[b])
              for a, b in (("superior", "lateral"), ("superior", "posterior"), ("lateral", "posterior"))}
    diameter, width, height = cochlea_dimensions_mm(labels, sp)
    near_volume, ampulla = ampulla_measures(labels, sp)
    section = {}
    for st in CANALS:
        area, across, high = canal_cross_section(labels, st, sp)  # not `width`/`height`: the cochlea's are above
        section.update({f"{st.key}.area_mm2": area, f"{st.key}.width_mm": across, f"{st.key}.height_mm": high})
    d_coch = lumen_diameters_mm(labels, Structure.COCHLEA, sp)
    coch_lumen = {"median": float(np.median(d_coch)), "p90": float(np.percentile(d_coch, 90))} if len(d_coch) \
        else {"median": 0.0, "p90": 0.0}
    return LabyrinthShape(
        volume_mm3=volumes_mm3(labels, sp),
        cochlea_basal_diameter_mm=diameter, cochlea_width_mm=width, cochlea_height_mm=height,
        cochlea_turns=cochlear_turns(labels, sp),
        canal_radius_mm={k: float(v) for k, v in radius.items()}, canal_lumen_mm=lumen,
        canal_near_vestibule_mm3=near_volume, ampulla_mm=ampulla, canal_section=section,
        cochlea_lumen_mm=coch_lumen,
        canal_angle_deg=angles, vestibule_axes_mm=vestibule_axes_mm(labels, sp),
        common_crus_mm=common_crus_mm(labels, sp), centroid_mm=centroid, canal_centre_mm=arc_centre)
