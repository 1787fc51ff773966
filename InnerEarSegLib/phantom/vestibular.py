"""Vestibule and the three semicircular canals (ear frame, left chirality, mm).

Construction (before the whole vestibular block is pitched nose-up by ``lateral_canal_pitch_deg``):
the lateral canal lies in a horizontal plane, the superior canal in a vertical plane 45 deg from the
mid-sagittal plane running antero-lateral, the posterior canal in the vertical plane at 90 deg to it.
Superior and posterior arcs both end at the top of the common crus, which runs down into the
vestibule postero-superiorly; inside the crus the two canals run side by side, each keeping its own
label down to the vestibule, so that every canal together with the vestibule closes a loop.
Ampullae are bulbs of ~2x the lumen at the ampullary end of each canal.
"""
from __future__ import annotations

import numpy as np

from ..labels import Structure
from .anatomy import (Ellipsoid, Tube, _arc, _jittered_normal, _plane_basis, _plane_basis_towards,
                      ampulla_radii, resample_polyline, rotation_xyz_deg, unit)

STEP_MM = 0.12


def vestibular_rotation(p: dict) -> np.ndarray:
    """Rotation of the vestibular block: lateral canal pitched nose-up, small common yaw."""
    return rotation_xyz_deg([-p["lateral_canal_pitch_deg"], 0.0, p.get("canal_yaw_deg", 0.0)])


def build_vestibule(p: dict) -> tuple[list[Ellipsoid], dict]:
    """Irregular vestibule: a tilted ellipsoid with utricular and saccular recesses (canal frame)."""
    sx, sy, sz = (float(v) for v in p["vestibule_semi_mm"])
    dil = float(p.get("vestibule_dilation", 1.0))
    sx, sy, sz = sx * dil, sy * dil, sz * dil
    axes = rotation_xyz_deg(p["vestibule_tilt_deg"])
    s0, s1 = p["vestibule_recess_scale"]
    blobs = [
        Ellipsoid(Structure.VESTIBULE, np.zeros(3), axes, np.array([sx, sy, sz]), "vestibule"),
        Ellipsoid(Structure.VESTIBULE, np.array([-0.25 * sx, 0.4 * sy, 0.45 * sz]), axes,
                  s0 * np.array([1.0 * sx, 0.7 * sy, 0.7 * sz]), "utricular recess"),
        Ellipsoid(Structure.VESTIBULE, np.array([-0.05 * sx, -0.45 * sy, -0.45 * sz]), axes,
                  s1 * np.array([0.95 * sx, 0.7 * sy, 0.75 * sz]), "saccular recess"),
    ]
    semi = np.array([sx, sy, sz])
    for k, bulge in enumerate(p.get("vestibule_bulges", ())):  # calibrated anatomy: an asymmetric wall
        d = np.asarray(bulge["direction"], float)
        blobs.append(Ellipsoid(Structure.VESTIBULE, axes @ (bulge["depth"] * d * semi), axes,
                               np.asarray(bulge["scale"], float) * semi, f"vestibule bulge {k + 1}"))
    attach = {
        "superior": np.array([0.2 * sx, -0.5 * sy, 0.8 * sz]),
        "posterior": np.array([-0.35 * sx, 0.55 * sy, -0.5 * sz]),
        "lateral_ampulla": np.array([0.75 * sx, -0.15 * sy, 0.15 * sz]),
        "lateral_posterior": np.array([0.5 * sx, 0.55 * sy, 0.45 * sz]),
        "crus_base": np.array([-0.55 * sx, 0.55 * sy, 0.55 * sz]),
        "cochlea": np.array([0.25 * sx, -0.75 * sy, -0.55 * sz]),
        "oval_window": np.array([0.97 * sx, -0.2 * sy, -0.3 * sz]),
    }
    return blobs, attach


def _canal_tube(structure, points, lumen_mm, limb_len_mm, name, ampulla: tuple[float, float, float],
                flatten: tuple[np.ndarray, float] | None = None) -> Tube:
    """A canal tube; `ampulla` = (scale x lumen, Gaussian half-length mm, centre past the limb mm).

    `flatten` = (unit normal of the canal's plane, height / width of its lumen): the lumen is an ellipse,
    its short axis across the plane, ``lumen_mm`` x ratio^-1/4 wide and x ratio^3/4 high (so a flatter
    canal is not much wider: wider canals would touch each other); the ampulla stays round.
    """
    pts, s = resample_polyline(points, STEP_MM)
    scale, half_length_mm, past_limb_mm = ampulla
    if flatten is None:
        radii = ampulla_radii(s, lumen_mm, limb_len_mm + past_limb_mm, scale, half_length_mm=half_length_mm)
        return Tube(structure, pts, radii, name)
    normal, ratio = flatten
    width_mm = lumen_mm * ratio**-0.25  # width x height = lumen^2 x sqrt(ratio)
    bulb_scale = scale * lumen_mm / width_mm  # the ampulla's own size is kept
    radii = ampulla_radii(s, width_mm, limb_len_mm + past_limb_mm, bulb_scale, half_length_mm=half_length_mm)
    bulb = np.clip((2.0 * radii / width_mm - 1.0) / max(bulb_scale - 1.0, 1e-6), 0.0, 1.0)
    aspect = 1.0 - (1.0 - ratio) * (1.0 - bulb)  # round where the bulb is full
    return Tube(structure, pts, radii, name, thin_axis=np.asarray(normal, float), aspect_ratio=aspect)


def build_canals(p: dict, attach: dict, status: dict[str, str]) -> tuple[list[Tube], dict]:
    """Canal tubes (canal frame) for every canal whose status is not ``missing``; arc-centre landmarks."""
    tubes: list[Tube] = []
    marks: dict[str, np.ndarray] = {}
    jit = p["canal_normal_jitter_deg"]
    npl = p["canal_nonplanarity_mm"]
    phs = p["canal_nonplanarity_phase"]
    amp = p["ampulla_scale"]

    def ampulla_of(key):  # calibrated anatomy draws each canal's bulb; classic: one scale, 0.75 mm, 0.6 mm
        a = p.get("ampulla", {}).get(key, {})
        return a.get("scale", amp), a.get("half_length_mm", 0.75), a.get("past_limb_mm", 0.6)

    def flatten_of(key, normal):  # calibrated anatomy: a flattened lumen; classic: round
        ratio = p.get("canal_aspect", {}).get(key)
        return None if ratio is None else (normal, ratio)
    crus_base = attach["crus_base"]
    crus_top = crus_base + p["crus_length_mm"] * unit([-0.1, 0.0, 1.0])
    if "crus_top_shift_mm" in p:  # calibrated anatomy: the crus leans back, so both arcs sit further back
        crus_top = crus_top + np.asarray(p["crus_top_shift_mm"], float)
    anterior_off = 0.22 * unit(np.array([0.0, -1.0, 0.0]) - np.dot([0.0, -1.0, 0.0], unit(crus_top - crus_base))
                               * unit(crus_top - crus_base))
    marks["common_crus_top"] = crus_top

    def radius_of(key):
        return p[f"{key}_radius_mm"] * p.get(f"{key}_radius_scale", 1.0)

    def lumen_of(key):
        return p[f"{key}_lumen_mm"] * p.get(f"{key}_lumen_scale", 1.0)

    # superior: crus end at crus_top, arc over the top to the antero-lateral ampulla
    lean = np.radians(p.get("superior_normal_lean_deg", 0.0))  # calibrated: the plane tilted off the vertical
    sup_normal = [1, 1, 0] if lean == 0.0 else [np.cos(lean), np.cos(lean), np.sqrt(2.0) * np.sin(lean)]
    n, h, v = _plane_basis(_jittered_normal(sup_normal, jit[0]), [1, -1, 0])
    r = radius_of("superior")
    beta = np.radians(p["superior_crus_angle_deg"])
    c = crus_top + r * (np.cos(beta) * h + np.sin(beta) * v)
    span = p["superior_arc_deg"] * p.get("superior_arc_scale", 1.0)
    arc = _arc(c, h, v, n, r, np.degrees(beta) + 180.0, span, npl[0], phs[0])[::-1]
    marks["superior_arc_centre"] = c
    marks["superior_normal"] = n
    if status.get("superior") != "missing":
        pts = np.vstack([attach["superior"], arc, crus_top + anterior_off, crus_base + anterior_off])
        limb = np.linalg.norm(arc[0] - attach["superior"])
        tubes.append(_canal_tube(Structure.SUPERIOR_CANAL, pts, lumen_of("superior"), limb, "superior canal",
                                 ampulla_of("superior"), flatten_of("superior", n)))

    # posterior: crus end at crus_top, arc postero-laterally and down to the postero-inferior ampulla
    n, h, v = _plane_basis(_jittered_normal([1, -1, 0], jit[1]), [1, 1, 0])
    r = radius_of("posterior")
    beta = np.radians(p["posterior_crus_angle_deg"])
    c = crus_top + r * (np.cos(beta) * h + np.sin(beta) * v)
    span = p["posterior_arc_deg"] * p.get("posterior_arc_scale", 1.0)
    arc = _arc(c, h, v, n, r, np.degrees(beta) + 180.0, span, npl[1], phs[1])[::-1]
    if "posterior_arc_shift_mm" in p:  # calibrated anatomy: the arc set back from its ampulla, tapering to the crus
        shift = np.asarray(p["posterior_arc_shift_mm"], float)
        shift = shift - np.dot(shift, n) * n  # within the canal's plane: its shape changes, not its plane
        taper = np.linspace(1.0, 0.0, len(arc))[:, None]
        arc = arc + taper * shift
        c = c + 0.5 * shift
    marks["posterior_arc_centre"] = c
    marks["posterior_normal"] = n
    if status.get("posterior") != "missing":
        pts = np.vstack([attach["posterior"], arc, crus_top - anterior_off, crus_base - anterior_off])
        limb = np.linalg.norm(arc[0] - attach["posterior"])
        tubes.append(_canal_tube(Structure.POSTERIOR_CANAL, pts, lumen_of("posterior"), limb, "posterior canal",
                                 ampulla_of("posterior"), flatten_of("posterior", n)))

    # lateral: horizontal arc bulging postero-laterally, two separate openings into the vestibule
    n, h, v = _plane_basis_towards(_jittered_normal([0, 0, 1], jit[2]), [1, 0, 0], [0, 1, 0])
    r = radius_of("lateral")
    c = np.asarray(p["lateral_centre_mm"], float)
    to_v = -c
    g = np.degrees(np.arctan2(np.dot(to_v, v), np.dot(to_v, h)))
    span = p["lateral_arc_deg"] * p.get("lateral_arc_scale", 1.0)
    gap = 360.0 - span
    arc = _arc(c, h, v, n, r, g + gap / 2.0, -span, npl[2], phs[2])
    marks["lateral_arc_centre"] = c
    marks["lateral_normal"] = n
    if status.get("lateral") != "missing":
        pts = np.vstack([attach["lateral_ampulla"], arc, attach["lateral_posterior"]])
        limb = np.linalg.norm(arc[0] - attach["lateral_ampulla"])
        tubes.append(_canal_tube(Structure.LATERAL_CANAL, pts, lumen_of("lateral"), limb, "lateral canal",
                                 ampulla_of("lateral"), flatten_of("lateral", n)))
    return tubes, marks
