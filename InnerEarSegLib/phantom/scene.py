"""Head pose and ear placement: where each ear frame sits in LPS world space.

Head frame (mm): origin midway between the ears, +x patient left, +y posterior, +z superior
(LPS axes before the head is rotated in the scanner). A left ear frame sits at ``(+d, y, z)`` of the
head frame; a right ear frame is the mirror image (its lateral axis flipped) at ``(-d, y, z)`` with
its own anatomical variation. The head is then rotated by up to +-15 deg about each axis and
shifted in the scanner: ``world = R_head @ p_head + head_origin``.
"""
from __future__ import annotations

import numpy as np

from ..labels import Side
from .anatomy import rotation_xyz_deg


def draw_head_params(rng: np.random.Generator) -> dict:
    """Head pose, head size and per-ear placement (mm, degrees)."""
    def ear():
        return {
            "lateral_distance_mm": float(np.clip(rng.normal(32.5, 1.2), 30.0, 35.0)),
            "offset_yz_mm": [float(v) for v in rng.uniform(-1.5, 1.5, 2)],
            "rotation_deg": [float(v) for v in rng.uniform(-4.0, 4.0, 3)],
        }

    return {
        "pose_deg": [float(np.clip(rng.normal(0.0, 6.0), -15.0, 15.0)) for _ in range(3)],
        "shift_mm": [float(v) for v in rng.uniform(-8.0, 8.0, 3)],
        "head_semi_mm": [float(rng.uniform(68, 76)), float(rng.uniform(88, 98)), float(rng.uniform(80, 90))],
        "head_centre_mm": [0.0, float(rng.uniform(8, 14)), float(rng.uniform(22, 30))],
        "scalp_mm": float(rng.uniform(4.0, 6.0)),
        "skull_mm": float(rng.uniform(5.0, 8.0)),
        "ears": {"right": ear(), "left": ear()},
    }


def head_rotation(head: dict) -> np.ndarray:
    return rotation_xyz_deg(head["pose_deg"])


def ear_placement(head: dict, side: Side, head_origin_world_mm) -> tuple[np.ndarray, np.ndarray]:
    """Rigid map of the ear frame into world: ``world = rot @ p_ear + shift`` (rot mirrors a right ear)."""
    e = head["ears"][side.value]
    sgn = 1.0 if side is Side.LEFT else -1.0
    mirror = np.diag([sgn, 1.0, 1.0])
    pos_head = np.array([sgn * e["lateral_distance_mm"], e["offset_yz_mm"][0], e["offset_yz_mm"][1]])
    r_head = head_rotation(head)
    rot = r_head @ mirror @ rotation_xyz_deg(e["rotation_deg"])
    shift = r_head @ pos_head + np.asarray(head_origin_world_mm, float)
    return rot, shift
