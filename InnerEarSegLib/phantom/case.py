"""Draw one case: anatomy of each ear, pathology, head pose, tissues, physics -- all from one seed.

Every random stream is derived from ``(seed, stream)`` so that an ear's anatomy does not depend on
the protocol, the mode (ROI or full CT) or on the other ear: ``generate_roi(7, Side.LEFT)`` and
``generate(7)`` show the same left labyrinth in the same head pose.
"""
from __future__ import annotations

import numpy as np

from ..labels import Side, Structure
from .anatomy import draw_anatomy_params
from .calibrated import ANATOMIES, deform_labyrinth, draw_calibrated_params, ear_turn, elastic_field, topology_ok
from .labyrinth import build_labyrinth, canal_clearance_mm
from .pathology import apply_before_build, ct_effects, likert_score
from .render import EarScene, Scene
from .scene import draw_head_params, ear_placement, head_rotation
from .surroundings import draw_surroundings_params, draw_tissue_hu, widen_surroundings

MAX_DRAWS = 30
#: calibrated canals are wider and their ampullae larger, so fewer draws pass the clearance and loop checks
MAX_DRAWS_CALIBRATED = 80
MIN_CANAL_GAP_MM = 0.2  # bone between two canals (walls); anatomically they never touch
_STREAMS = {"anatomy": 1, "surroundings": 3, "pathology": 5, "effects": 7, "jitter": 9, "head": 20, "tissue": 21,
            "physics": 22, "fov": 23, "appearance": 30, "distractors": 32, "surroundings_calibrated": 34}


def stream(seed: int, name: str, side: Side | None = None) -> np.random.Generator:
    """Independent generator for one named purpose (and side) of a case."""
    k = _STREAMS[name] + (0 if side in (None, Side.RIGHT) else 1)
    return np.random.default_rng([int(seed), k])


def check_anatomy(anatomy: str) -> str:
    """`anatomy` if it names a generator anatomy (:data:`.calibrated.ANATOMIES`), else ValueError."""
    if anatomy not in ANATOMIES:
        raise ValueError(f"anatomy must be one of {ANATOMIES}, got {anatomy!r}")
    return anatomy


def build_ear(seed: int, side: Side, pathologies, head: dict, head_origin_world_mm, *, anatomy: str = "classic"
              ) -> tuple[EarScene, dict]:
    """Labyrinth, surroundings and pathology effects of one ear, placed in the world; plus its meta.

    ``anatomy="calibrated"`` draws from :func:`.calibrated.draw_calibrated_params` and deforms the
    labyrinth elastically (before the canal-clearance check, so a deformed anatomy is redrawn too),
    places it in its bone less tidily (:func:`.surroundings.widen_surroundings`) and turns the ear in the
    head as real ears lie (:func:`.calibrated.ear_turn`).
    """
    rng_anat, rng_path = stream(seed, "anatomy", side), stream(seed, "pathology", side)
    calibrated = check_anatomy(anatomy) == "calibrated"
    draw = draw_calibrated_params if calibrated else draw_anatomy_params
    for attempt in range(MAX_DRAWS_CALIBRATED if calibrated else MAX_DRAWS):  # redraw anatomies whose canals touch
        params = draw(rng_anat)
        params, status, cavity, records = apply_before_build(tuple(pathologies), params, rng_path)
        lab = build_labyrinth(params, status=status, common_cavity=cavity)
        if "elastic" in params:
            el = params["elastic"]
            field = elastic_field(el["rms_mm"], el["wavelength_mm"], np.random.default_rng(el["seed"]))
            lab = deform_labyrinth(lab, field)
        if (canal_clearance_mm(lab, ampullae=not calibrated) >= MIN_CANAL_GAP_MM
                and (not calibrated or cavity or topology_ok(lab))):
            break
    lab.params["draws"] = attempt + 1
    effects = ct_effects(lab, stream(seed, "effects", side))
    rot, shift = ear_placement(head, side, head_origin_world_mm)
    if calibrated:  # turned as real ears lie in their heads (labyrinth and its bone together)
        rot = rot @ ear_turn()
    surroundings = draw_surroundings_params(stream(seed, "surroundings", side))
    if calibrated:
        surroundings = widen_surroundings(surroundings, stream(seed, "surroundings_calibrated", side))
    ear = EarScene(side, lab, rot, shift, surroundings, effects)
    return ear, {"side": side.value, "pathologies": records}


def build_scene(seed: int, ears_pathologies: dict[Side, tuple], *, head_origin_world_mm=(0.0, 0.0, 0.0),
                anatomy: str = "classic") -> tuple[Scene, list[dict]]:
    """Scene with the requested ears (side -> pathology names) and their meta records."""
    head = draw_head_params(stream(seed, "head"))
    origin = np.asarray(head_origin_world_mm, float) + np.asarray(head["shift_mm"])
    ears, metas = [], []
    for side in (Side.RIGHT, Side.LEFT):
        if side in ears_pathologies:
            ear, meta = build_ear(seed, side, ears_pathologies[side], head, origin, anatomy=anatomy)
            ears.append(ear)
            metas.append(meta)
    scene = Scene(head, origin, head_rotation(head), draw_tissue_hu(stream(seed, "tissue")), tuple(ears))
    return scene, metas


def ear_in_head(scene: Scene, ear: EarScene) -> np.ndarray:
    """How `ear`'s frame is turned in the head, without the head's pose, in left-ear chirality (a right ear's
    mirror undone): its own placement and, for calibrated anatomy, :func:`.calibrated.ear_turn`."""
    mirror = np.diag([1.0 if ear.side is Side.LEFT else -1.0, 1.0, 1.0])
    return mirror @ scene.head_rot.T @ ear.rot


def to_world(ear: EarScene, p_ear) -> list[float]:
    return [float(v) for v in ear.rot @ np.asarray(p_ear, float) + ear.shift]


def ear_meta(ear: EarScene, meta: dict, *, status_override: dict | None = None) -> dict:
    """JSON-able description of one ear: centre, landmarks (world mm), structures, Likert, parameters."""
    lab = ear.labyrinth
    status = dict(lab.structures)
    status.update(status_override or {})
    landmarks = {k: to_world(ear, v) for k, v in lab.landmarks_mm.items()}
    present = {st.key: status.get(st.key, "present") for st in Structure}
    return {
        "side": ear.side.value,
        "labyrinth_centre_lps_mm": landmarks["labyrinth_centre"],
        "structures_present": present,
        "likert": likert_score(present, lab.disorganised),
        "disorganised": lab.disorganised,
        "pathologies": meta["pathologies"],
        "landmarks_lps_mm": landmarks,
        "anatomy": _jsonable(lab.params),
        "surroundings": _jsonable(ear.surroundings),
        "ct_effects": _effects_meta(ear),
        "ear_to_world": {"rotation": [[float(v) for v in row] for row in ear.rot],
                         "translation_mm": [float(v) for v in ear.shift]},
    }


def _effects_meta(ear: EarScene) -> dict:
    """Where each CT-only pathology effect sits in the world (for checks and readers)."""
    eff = ear.effects
    out: dict = {}
    if eff.get("otosclerosis_foci"):
        out["otosclerosis_foci"] = [{"centre_lps_mm": to_world(ear, c), "radius_mm": float(r), "hu": float(v)}
                                    for c, r, v in eff["otosclerosis_foci"]]
    if eff.get("middle_ear_fill_hu") is not None:
        out["middle_ear_fill_hu"] = float(eff["middle_ear_fill_hu"])
    if eff.get("dehiscence_mm"):
        out["dehiscence_mm"] = float(eff["dehiscence_mm"])
    if eff.get("electrode_points") is not None:
        pts = eff["electrode_points"]
        out["electrode"] = {"points_lps_mm": [to_world(ear, p) for p in pts[:: max(len(pts) // 12, 1)]],
                            "radius_mm": float(eff.get("electrode_radius_mm", 0.3))}
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer, int)) and not isinstance(obj, bool):
        return int(obj)
    return obj
