"""Anatomy calibrated to real labyrinths, and the variation a parametric model lacks (issue 13).

``anatomy="classic"`` (the default) is the generator the bundled model 2.0.0 was trained on and stays
bit-identical. ``anatomy="calibrated"`` draws the same parameters from ranges widened and shifted so
that the real labyrinths 01-40 lie inside the generator's distribution, measured the same way on both
(``benchmarks/compare_anatomy.py``; table in docs/phantom.md), and adds

* a rounder, taller cochlear duct whose turns stack up the modiolus with bone between them (the
  classic duct is flat and its turns merge), an oval basal turn (the width across the A-value
  chord 0.76-0.92 of the round one) and a shift of the cochlea towards the vestibule;
* a common crus leaning back (its top 0.8-1.6 mm behind the straight crus, :data:`CRUS_TOP_SHIFT_RANGES`),
  which carries both arcs' crus ends back, so that the posterior arc lies as far behind the vestibule
  as the real ones; a posterior canal arc set back within its plane (by up to 1.8-2.8 mm before projection) at its
  ampullary end, tapering to the crus (real
  posterior canals lie farther behind the vestibule), non-planar canals (0.15-0.6 mm out of plane)
  and a superior canal plane tilted 4-16 deg about its horizontal axis (real superior-lateral plane
  angles 67-90 deg, median 79; tilted the other way, its ampulla would run into the lateral canal's);
* ampullae sized per canal to the real canals' volume and width next to the vestibule
  (:data:`AMPULLA_RANGES`), and canals flattened across their plane (:data:`CANAL_ASPECT_RANGES`; real
  canals are wider than high);
* an asymmetric vestibule: one to three extra bulges on its wall (each containing the vestibule's
  centre, so the vestibule stays one loop-free cavity);
* the ear turned in the head as real ears lie (:data:`EAR_TURN_ROTVEC_DEG`, :func:`ear_turn`);
* a smooth random elastic deformation of the whole labyrinth (:func:`elastic_field`): a sum of
  random plane waves whose displacement gradient is bounded by 0.35, so the map stays one-to-one
  (a diffeomorphism: no folding, no change of topology), with an RMS displacement of 0.15-0.45 mm.

A calibrated draw whose vestibule and canals do not have exactly one loop per canal is redrawn
(:func:`topology_ok`), as touching canals already are.

Real numbers: ``Daniel-Nicolae/Modelling-the-Human-Semicircular-Canals`` @
``a8343505728b90d38e4dc9e72f3409f0c8adff1d``, ``cochlea_data/NN.ply``, subjects 01-40, voxelised at
0.2 mm and measured by :func:`.shape_measures.measure_labyrinth`.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from .anatomy import Ellipsoid, Labyrinth, Tube, _clipped_normal

ANATOMIES = ("classic", "calibrated")
MAX_DISPLACEMENT_GRADIENT = 0.35  # < 1 keeps x + u(x) one-to-one
#: Per canal: ampulla scale (x lumen), Gaussian half-length along the canal (mm) and centre past the limb (mm),
#: uniform ranges. Set so that each canal's volume within 2 mm of the vestibule, and its widest inscribed
#: diameter there, match the real labyrinths (``benchmarks/compare_anatomy.py``, docs/phantom.md): real lateral
#: canals hold 10.1 mm^3 there (the classic phantom 5.9), their ampullae 2.2 mm across, next to the vestibule.
#: Height / width of each canal's lumen (its short axis across the canal's plane; ``vestibular._canal_tube``),
#: uniform ranges. Real canals 01-12 measure 0.79 (superior), 0.62 (lateral), 0.64 (posterior) by
#: ``shape_measures.canal_cross_section`` at 0.2 mm, where a round phantom canal reads 0.9.
CANAL_ASPECT_RANGES = {"superior": (0.75, 0.95), "lateral": (0.53, 0.71), "posterior": (0.55, 0.74)}
#: Displacement of the common crus's top from the straight crus (canal frame x, y, z; mm), uniform ranges.
CRUS_TOP_SHIFT_RANGES = ((-0.5, -0.1), (0.8, 1.6), (-0.5, -0.1))
#: The superior ampulla narrower and longer since 2026-12-07 (was scale 1.9-2.2, half-length 0.9-1.15 mm: 2.15 mm
#: wide against real 1.79, and a network trained on it labelled 6 % of real vestibules superior canal).
AMPULLA_RANGES = {
    "superior": ((1.6, 1.85), (1.5, 1.9), (0.0, 0.3)),
    "lateral": ((1.87, 2.14), (1.0, 1.3), (-0.5, -0.1)),
    "posterior": ((1.67, 1.89), (0.9, 1.1), (0.1, 0.4)),
}
#: How real labyrinths 01-40 lie in their own scanners: the mean rotation (rotation vector, degrees; left-ear
#: chirality, a right ear mirrored) from the scanner's axes to the ear frame of its structure centroids
#: (``shape_measures.head_orientation_deg``); 29 deg, median 11 deg between subjects
#: (``benchmarks/compare_anatomy.py``, rows ``head_orientation_deg``).
REAL_EAR_ORIENTATION_ROTVEC_DEG = (-11.2, 11.7, -24.3)
#: How a calibrated ear is turned in the head, about its own origin (rotation vector, degrees, ear frame,
#: left chirality; applied before the ear's placement): without it the calibrated ears lay at (-22.5, 16.5,
#: -14.4) deg from the head's axes, 16 deg from :data:`REAL_EAR_ORIENTATION_ROTVEC_DEG`. This is the real
#: mean times the phantom's inverse; it moves nothing else of a seed.
EAR_TURN_ROTVEC_DEG = (8.92, -7.91, -10.14)


def ear_turn() -> np.ndarray:
    """The rotation matrix of :data:`EAR_TURN_ROTVEC_DEG` (calibrated ears: ``world = rot @ turn @ p_ear``)."""
    return Rotation.from_rotvec(EAR_TURN_ROTVEC_DEG, degrees=True).as_matrix()


def draw_calibrated_params(rng: np.random.Generator) -> dict:
    """One normal ear's parameters, calibrated to the real labyrinths 01-40 (same keys as the classic draw, plus
    ``cochlea_shift_mm``, ``cochlea_ovality``, ``superior_normal_lean_deg``, ``posterior_arc_shift_mm``,
    ``vestibule_bulges``, ``elastic``, ``ampulla``, ``canal_aspect`` and ``crus_top_shift_mm``)."""
    p = {
        "cochlea_a_value_mm": _clipped_normal(rng, 9.8, 0.4, 9.0, 10.8),
        "cochlea_height_mm": _clipped_normal(rng, 4.6, 0.4, 3.8, 5.6),
        "cochlea_turns": _clipped_normal(rng, 2.75, 0.2, 2.3, 3.2),
        "cochlea_lumen_base_mm": float(rng.uniform(1.9, 2.4)),
        "cochlea_lumen_height_base_mm": float(rng.uniform(1.7, 2.2)),
        "cochlea_lumen_height_apex_mm": float(rng.uniform(0.85, 1.1)),
        "cochlea_rise_exponent": float(rng.uniform(1.1, 1.7)),
        "cochlea_lumen_apex_mm": float(rng.uniform(0.9, 1.2)),
        "cochlea_apex_radius_mm": float(rng.uniform(0.45, 0.7)),
        "cochlea_axis_azimuth_deg": float(rng.uniform(35.0, 65.0)),
        "cochlea_axis_elevation_deg": float(rng.uniform(-35.0, -10.0)),
        "cochlea_hook_mm": float(rng.uniform(0.3, 0.7)),
        "vestibule_semi_mm": [float(rng.uniform(1.6, 2.05)), float(rng.uniform(3.0, 3.6)),
                              float(rng.uniform(2.3, 2.8))],
        "vestibule_tilt_deg": [float(v) for v in rng.uniform(-12, 12, 3)],
        "vestibule_recess_scale": [float(v) for v in rng.uniform(0.55, 0.85, 2)],
        "superior_radius_mm": _clipped_normal(rng, 3.5, 0.22, 3.0, 4.1),
        "posterior_radius_mm": _clipped_normal(rng, 3.05, 0.2, 2.7, 3.5),
        "lateral_radius_mm": _clipped_normal(rng, 2.5, 0.13, 2.2, 2.85),
        "superior_lumen_mm": float(rng.uniform(0.9, 1.15)),
        "posterior_lumen_mm": float(rng.uniform(1.08, 1.37)),
        "lateral_lumen_mm": float(rng.uniform(1.07, 1.35)),
        "superior_arc_deg": float(rng.uniform(240, 260)),
        "posterior_arc_deg": float(rng.uniform(245, 265)),
        "lateral_arc_deg": float(rng.uniform(245, 268)),
        "superior_crus_angle_deg": float(rng.uniform(-4, 12)),
        "posterior_crus_angle_deg": float(rng.uniform(-58, -38)),
        "canal_normal_jitter_deg": [[float(v) for v in rng.uniform(-6.0, 6.0, 2)] for _ in range(3)],
        "canal_nonplanarity_mm": [float(v) for v in rng.uniform(0.15, 0.6, 3)],
        "canal_nonplanarity_phase": [float(v) for v in rng.uniform(0, 2 * np.pi, 3)],
        "crus_length_mm": float(rng.uniform(2.0, 3.4)),
        "lateral_canal_pitch_deg": _clipped_normal(rng, 24.0, 6.0, 12.0, 38.0),
        "canal_yaw_deg": float(rng.uniform(-8, 8)),
        "lateral_centre_mm": [float(rng.uniform(2.7, 3.2)), float(rng.uniform(1.8, 2.4)),
                              float(rng.uniform(0.85, 1.45))],
        "ampulla_scale": float(rng.uniform(1.9, 2.3)),
        # additions (read with defaults by the builders, so the classic draw is unchanged)
        "cochlea_shift_mm": [float(rng.uniform(-0.8, -0.2)), float(rng.uniform(1.4, 2.4)),
                             float(rng.uniform(-1.1, -0.3))],
        "superior_normal_lean_deg": float(rng.uniform(-16.0, -4.0)),
        "posterior_arc_shift_mm": [float(rng.uniform(-0.3, 0.3)), float(rng.uniform(1.8, 2.8)),
                                   float(rng.uniform(0.0, 0.6))],
        "cochlea_ovality": float(rng.uniform(0.76, 0.92)),
        "vestibule_bulges": _draw_bulges(rng),
        "elastic": {"rms_mm": float(rng.uniform(0.15, 0.45)), "wavelength_mm": float(rng.uniform(7.0, 14.0)),
                    "seed": int(rng.integers(0, 2**31 - 1))},
    }
    # drawn last, so the draws above take the same random numbers as before the ampullae were calibrated
    p["ampulla"] = {key: {"scale": float(rng.uniform(*scale)), "half_length_mm": float(rng.uniform(*half)),
                          "past_limb_mm": float(rng.uniform(*past))}
                    for key, (scale, half, past) in AMPULLA_RANGES.items()}
    # real canals are wider than high (benchmarks/compare_anatomy.py, canal_section): height / width of the lumen
    p["canal_aspect"] = {key: float(rng.uniform(*bounds)) for key, bounds in CANAL_ASPECT_RANGES.items()}
    # the common crus leans back: its top moved back (and a little medially and down) from the straight crus,
    # so that the posterior arc lies as far behind the vestibule as the real ones (arc centre 5.2 mm, the
    # straight crus gave 4.0; benchmarks/compare_anatomy.py, canal_centre_mm)
    p["crus_top_shift_mm"] = [float(rng.uniform(lo, hi)) for lo, hi in CRUS_TOP_SHIFT_RANGES]
    return p


def _draw_bulges(rng: np.random.Generator) -> list[dict]:
    """1-3 bulges on the vestibule's wall: direction (unit, canal frame), semi-axes as fractions of the body's."""
    out = []
    for _ in range(int(rng.integers(1, 4))):
        d = rng.normal(size=3)
        scale = rng.uniform(0.45, 0.7, 3)
        # centre at depth < min(scale): the bulge contains the body's centre, so body + bulges stay star-shaped
        out.append({"direction": [float(v) for v in d / np.linalg.norm(d)],
                    "depth": float(rng.uniform(0.6, 0.9) * scale.min()), "scale": [float(v) for v in scale]})
    return out


def topology_ok(lab: Labyrinth, *, spacing_mm: float = 0.2) -> bool:
    """True if the vestibule and the present canals together have one loop per canal (first Betti number).

    Counted on the union of their primitives (depth > 0, so voxels the cochlea claims inside the
    vestibule do not punch holes) over the labyrinth's bounding box in the ear frame at `spacing_mm`,
    on two lattices half a voxel apart.
    The union is what is checked: per-canal counts also change where a label boundary wanders (real
    labyrinths 01-40 show that too), the union's count only when a canal touches the vestibule or another
    canal a second time -- which bulges, set-back arcs and the elastic field can do. Such a draw is redrawn.
    """
    from .measure import loops
    from .raster import Grid, labyrinth_bounds_mm, rasterise_depth

    lo, hi = labyrinth_bounds_mm(lab)
    lo, hi = lo - 2 * spacing_mm, hi + 2 * spacing_mm
    shape = tuple(int(v) for v in np.ceil((hi - lo) / spacing_mm).astype(int)[::-1] + 2)
    present = sum(lab.structures.get(k, "present") != "missing" for k in ("superior", "lateral", "posterior"))
    for phase in (0.0, 0.5):  # two lattice phases: a near-contact closes on one of them
        grid = Grid(shape, tuple(float(v) for v in lo - phase * spacing_mm), (spacing_mm,) * 3)
        union = rasterise_depth(grid, lab, np.eye(3), np.zeros(3), margin_mm=spacing_mm)[1:].max(axis=0) > 0
        if loops(union) != present:
            return False
    return True


# --------------------------------------------------------------------------- elastic deformation
def elastic_field(rms_mm: float, wavelength_mm: float, rng: np.random.Generator, *, waves: int = 8):
    """A smooth random displacement ``u(p)`` (mm, (N, 3) -> (N, 3)): a sum of `waves` plane waves.

    Wave k is ``a_k * e_k * sin(w_k . p + phi_k)`` with random direction ``e_k``, wave vector of length
    ``2 pi / lambda_k`` (lambda within 0.7-1.3 x `wavelength_mm`) and phase. The amplitudes are scaled
    so that the RMS displacement is `rms_mm`, then shrunk if needed so that the bound
    ``sum_k a_k |w_k|`` on the displacement gradient stays at :data:`MAX_DISPLACEMENT_GRADIENT`.
    """
    e = rng.normal(size=(waves, 3))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    kdir = rng.normal(size=(waves, 3))
    kdir /= np.linalg.norm(kdir, axis=1, keepdims=True)
    k = kdir * (2 * np.pi / (wavelength_mm * rng.uniform(0.7, 1.3, waves)))[:, None]
    phase = rng.uniform(0, 2 * np.pi, waves)
    a = rng.uniform(0.5, 1.0, waves)
    a *= rms_mm / np.sqrt(0.5 * np.sum(a * a))  # E[sin^2] = 1/2, waves independent
    bound = float(np.sum(a * np.linalg.norm(k, axis=1)))
    if bound > MAX_DISPLACEMENT_GRADIENT:
        a *= MAX_DISPLACEMENT_GRADIENT / bound

    def u(points_mm: np.ndarray) -> np.ndarray:
        s = np.sin(np.asarray(points_mm, float) @ k.T + phase)  # (N, waves)
        return (s * a) @ e

    return u


def deform_labyrinth(lab: Labyrinth, u) -> Labyrinth:
    """The labyrinth moved by displacement `u`: tube centre lines, ellipsoid centres and landmarks.

    Radii and ellipsoid axes are kept (the gradient bound keeps local stretch within +-35 %), so each
    primitive stays a valid swept sphere or ellipsoid and the labels stay exact.
    """
    tubes = tuple(replace(t, points_mm=t.points_mm + u(t.points_mm)) for t in lab.tubes)
    blobs = tuple(Ellipsoid(b.structure, b.centre_mm + u(b.centre_mm[None])[0], b.axes, b.semi_mm, b.name)
                  for b in lab.blobs)
    marks = {}
    for key, v in lab.landmarks_mm.items():
        v = np.asarray(v, float)
        marks[key] = v + u(v[None])[0] if v.shape == (3,) and key not in ("cochlea_axis",) else v
    return Labyrinth(tubes, blobs, marks, lab.params, dict(lab.structures), lab.disorganised)
