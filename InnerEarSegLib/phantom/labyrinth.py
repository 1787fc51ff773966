"""Assemble one ear's labyrinth (cochlea + vestibule + canals) with landmarks and structure status."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..labels import Structure
from .anatomy import Ellipsoid, Labyrinth, Tube, rotation_xyz_deg
from .cochlea import build_cochlea
from .vestibular import build_canals, build_vestibule, vestibular_rotation

CANAL_KEYS = ("superior", "lateral", "posterior")


def _rotate_tube(t: Tube, rot: np.ndarray) -> Tube:
    axis = None if t.thin_axis is None else rot @ t.thin_axis
    return replace(t, points_mm=t.points_mm @ rot.T, thin_axis=axis)


def _rotate_blob(b: Ellipsoid, rot: np.ndarray) -> Ellipsoid:
    return Ellipsoid(b.structure, rot @ b.centre_mm, rot @ b.axes, b.semi_mm, b.name)


def _bounds(tubes, blobs) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for t in tubes:
        lo = np.minimum(lo, (t.points_mm - t.radii_mm[:, None]).min(axis=0))
        hi = np.maximum(hi, (t.points_mm + t.radii_mm[:, None]).max(axis=0))
    for b in blobs:
        ext = np.sqrt(((b.axes * b.semi_mm[None, :]) ** 2).sum(axis=1))
        lo = np.minimum(lo, b.centre_mm - ext)
        hi = np.maximum(hi, b.centre_mm + ext)
    return lo, hi


def build_labyrinth(p: dict, *, status: dict[str, str] | None = None, common_cavity: bool = False) -> Labyrinth:
    """Build the labyrinth of one ear in the ear frame from drawn (and pathology-edited) parameters.

    Parameters
    ----------
    p : dict
        Output of :func:`.anatomy.draw_anatomy_params`, possibly edited by :mod:`.pathology`.
    status : dict, optional
        Structure key -> ``present`` | ``missing`` | ``hypoplastic`` | ``dehiscent`` | ``incomplete``.
    common_cavity : bool
        Replace cochlea and vestibule by one cystic cavity (labelled vestibule); the canals are missing.
    """
    status = dict(status or {})
    for st in Structure:
        status.setdefault(st.key, "present")
    rot = vestibular_rotation(p)
    blobs, attach = build_vestibule(p)
    canal_tubes, canal_marks = build_canals(p, attach, status)
    blobs = [_rotate_blob(b, rot) for b in blobs]
    tubes = [_rotate_tube(t, rot) for t in canal_tubes]
    attach = {k: rot @ v for k, v in attach.items()}
    marks = {k: rot @ v for k, v in canal_marks.items() if not k.endswith("_normal")}
    normals = {k: rot @ v for k, v in canal_marks.items() if k.endswith("_normal")}
    derived: dict = {f"{k}": [float(x) for x in v] for k, v in normals.items()}
    if common_cavity:
        semi = np.asarray(p.get("common_cavity_semi_mm", [3.0, 4.2, 3.6]))
        centre = np.array([-0.3, -1.8, -0.6])
        blobs = [Ellipsoid(Structure.VESTIBULE, centre, rotation_xyz_deg(p["vestibule_tilt_deg"]), semi,
                           "common cavity")]
        tubes = []
        for key in ("cochlea",) + CANAL_KEYS:
            status[key] = "missing"
        marks["cochlear_apex"] = centre
        marks["round_window"] = centre + np.array([0.6 * semi[0], 0.0, -0.7 * semi[2]])
    else:
        coch_tubes, coch = build_cochlea(p, attach["cochlea"])
        tubes = coch_tubes + tubes
        marks.update({k: v for k, v in coch["marks"].items() if k in ("cochlear_apex", "round_window")})
        derived.update(coch["derived"])
        derived["cochlea_axis"] = [float(x) for x in coch["marks"]["cochlea_axis"]]
        derived["cochlea_base_centre_mm"] = [float(x) for x in coch["marks"]["cochlea_base_centre"]]
    marks["oval_window"] = attach["oval_window"]
    sup = next((t for t in tubes if t.name == "superior canal"), None)
    if sup is not None:
        marks["superior_canal_top"] = sup.points_mm[int(np.argmax(sup.points_mm[:, 2]))]
    marks["vestibule_centre"] = np.zeros(3)
    lo, hi = _bounds(tubes, blobs)
    marks["labyrinth_centre"] = 0.5 * (lo + hi)
    derived["labyrinth_extent_mm"] = [float(x) for x in hi - lo]
    params = dict(p)
    params["derived"] = derived
    return Labyrinth(tuple(tubes), tuple(blobs), marks, params, status, disorganised=common_cavity)


def canal_clearance_mm(lab: Labyrinth, *, ampullae: bool = True) -> float:
    """Smallest wall-to-wall gap (mm) between two different canals' tubes.

    The superior and posterior canals share the common crus, so the last ``crus + 3 mm`` of each
    (the crus and the arcs' convergence onto it) is left out of the comparison. With
    ``ampullae=False`` the superior and lateral canals' ampullary ends (their points up to the end of the
    bulb, where the radius exceeds 1.25 x the tube's median) are left out of their comparison with each
    other: those two ampullae open into the vestibule side by side and may touch there (the loop count
    of ``topology_ok`` still refuses a contact that closes a loop).
    """
    from scipy.spatial import cKDTree

    crus = lab.landmarks_mm.get("common_crus_top")
    parts = {}
    for t in lab.tubes:
        if not t.name.endswith("canal"):
            continue
        pts, rad = t.points_mm, t.radii_mm
        if t.name in ("superior canal", "posterior canal") and crus is not None:
            along = np.cumsum(np.r_[0, np.linalg.norm(np.diff(pts, axis=0), axis=1)])
            keep = along < along[-1] - (np.linalg.norm(crus - pts[-1]) + 3.0)
            pts, rad = pts[keep], rad[keep]
        bulb = np.flatnonzero(rad > 1.25 * np.median(rad))
        start = bulb[-1] + 1 if len(bulb) and bulb[0] < 0.3 * len(rad) else 0
        # a flattened canal counts as round (its width): conservative
        parts[t.name] = (pts, rad), (pts[start:], rad[start:])
    best = np.inf
    names = sorted(parts)
    side_by_side = {"lateral canal", "superior canal"}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            trim = int(not ampullae and {a, b} == side_by_side)
            (pa, ra), (pb, rb) = parts[a][trim], parts[b][trim]
            if len(pa) and len(pb):
                d, j = cKDTree(pb).query(pa)
                best = min(best, float((d - ra - rb[j]).min()))
    return best
