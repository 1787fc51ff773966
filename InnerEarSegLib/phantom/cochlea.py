"""Cochlea: a tapering conical spiral duct around the modiolus (ear frame, left chirality, mm).

The duct's centre line is a logarithmic spiral ``r = r0 exp(-b theta)`` that rises along the
modiolar axis by ``height - (lumen_base + lumen_apex) / 2`` over ``turns`` turns, so the outer
height of the cochlea is ``cochlea_height_mm``. ``r0`` is solved so that the basal-turn diameter
through the modiolus (round window to opposite outer wall, the "A-value") equals
``cochlea_a_value_mm``. Adjacent turns are separated by bone only ~0.1-0.3 mm thick and merge at CT
resolution, as in real scans. A short hook joins the basal end to the vestibule.
"""
from __future__ import annotations

import numpy as np

from ..labels import Structure
from .anatomy import Tube, resample_polyline, unit


def cochlear_axis(p: dict) -> np.ndarray:
    """Unit modiolar axis (base to apex): antero-lateral and down."""
    az, el = np.radians(p["cochlea_axis_azimuth_deg"]), np.radians(p["cochlea_axis_elevation_deg"])
    return np.array([np.cos(el) * np.sin(az), -np.cos(el) * np.cos(az), np.sin(el)])


def _solve_r0(a_value, d0, da, ra, turns) -> tuple[float, float]:
    """Spiral start radius r0 and decay b such that r(0)+r(pi)+d(0)/2+d(pi)/2 = A."""
    r0 = 0.5 * (a_value - d0)
    for _ in range(30):
        b = np.log(r0 / ra) / (2 * np.pi * turns)
        d_pi = d0 + (da - d0) * (0.5 / turns)
        r0_new = (a_value - 0.5 * d0 - 0.5 * d_pi) / (1.0 + np.exp(-b * np.pi))
        if abs(r0_new - r0) < 1e-6:
            break
        r0 = r0_new
    return float(r0), float(np.log(r0 / ra) / (2 * np.pi * turns))


def build_cochlea(p: dict, attach_mm: np.ndarray) -> tuple[list[Tube], dict]:
    """Cochlear duct and its landmarks, given the vestibular attachment point (ear frame).

    The duct's cross-section is flattened like the real scalae: ``cochlea_lumen_*_mm`` is its radial
    width, ``cochlea_lumen_height_*_mm`` its height along the modiolus; it is swept as three
    side-by-side tubes (inner wall, centre, outer wall) of the height's diameter.
    """
    a = cochlear_axis(p)
    w0, wa = p["cochlea_lumen_base_mm"], p["cochlea_lumen_apex_mm"]
    t0 = p.get("cochlea_lumen_height_base_mm", w0)
    ta = p.get("cochlea_lumen_height_apex_mm", wa)
    turns = p["cochlea_turns"]
    r0, b = _solve_r0(p["cochlea_a_value_mm"], w0, wa, p["cochlea_apex_radius_mm"], turns)
    rise = max(p["cochlea_height_mm"] - 0.5 * (t0 + ta), 0.6)
    q = unit([0.35, 1.0, 0.35])  # modiolus -> vestibule: posterior, lateral, a little up
    u0 = unit(q - np.dot(q, a) * a)
    v0 = np.cross(a, u0)
    hook_mm = float(p.get("cochlea_hook_mm", 0.9))
    base = attach_mm - (r0 + hook_mm) * u0 - 0.35 * a
    if "cochlea_shift_mm" in p:  # calibrated anatomy: the spiral sits nearer the vestibule (ear frame mm)
        base = base + np.asarray(p["cochlea_shift_mm"], float)

    theta_end = 2 * np.pi * turns
    n = int(max(r0 * theta_end / 0.1, 200))
    theta = np.linspace(0.0, theta_end, n)
    s = theta / theta_end
    r = r0 * np.exp(-b * theta)
    h = rise * (1.0 - (1.0 - s) ** float(p.get("cochlea_rise_exponent", 1.7)))  # basal turn rises most
    radial = np.cos(theta)[:, None] * u0 + np.sin(theta)[:, None] * v0
    if "cochlea_ovality" in p:  # calibrated anatomy: oval turns, narrower across the A-value chord
        centre = base + r[:, None] * (np.cos(theta)[:, None] * u0 + p["cochlea_ovality"] * np.sin(theta)[:, None]
                                      * v0) + h[:, None] * a
    else:
        centre = base + r[:, None] * radial + h[:, None] * a
    width = w0 + (wa - w0) * s
    height = t0 + (ta - t0) * s
    cyst = float(p.get("cochlea_apex_cyst_mm", 0.0))
    diam = height.copy()
    if cyst > 0:  # incomplete partition: cystic apex
        diam = np.maximum(diam, cyst * np.exp(-(((1 - s) * turns / 0.45) ** 2)))
    hook_pts, _ = resample_polyline(np.vstack([attach_mm, centre[0]]), 0.1)
    points = np.vstack([hook_pts[:-1], centre])
    radii = 0.5 * np.concatenate([np.full(len(hook_pts) - 1, 1.1 * t0), diam])
    tubes = [Tube(Structure.COCHLEA, points, radii, "cochlear duct")]
    side_offset = np.maximum(0.5 * (width - height), 0.0)[:, None] * radial
    for sign, name in ((1.0, "cochlear duct outer wall"), (-1.0, "cochlear duct inner wall")):
        tubes.append(Tube(Structure.COCHLEA, centre + sign * side_offset, 0.5 * height, name))
    marks = {
        "cochlear_apex": centre[-1] + 0.5 * diam[-1] * a,
        "round_window": centre[min(8, n - 1)] - 0.45 * t0 * a + 0.35 * w0 * u0,
        "cochlea_base_centre": base,
        "cochlea_axis": a,
    }
    p_derived = {"cochlea_r0_mm": r0, "cochlea_spiral_decay": b, "cochlea_rise_mm": rise,
                 "cochlea_centreline_length_mm": float(np.linalg.norm(np.diff(centre, axis=0), axis=1).sum())}
    return tubes, {"marks": marks, "derived": p_derived, "centreline": centre}
