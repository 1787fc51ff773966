"""Pathology and defects: what each does to one ear, and its effect on the Likert score.

Names (optionally ``name:argument``):

=====================  ==========================================================  ==============
name                   effect                                                      Likert effect
=====================  ==========================================================  ==============
scd                    superior canal dehiscence: bone over the arc top missing    none (1)
otosclerosis           1-3 low-density foci (900-1600 HU) in the otic capsule      none (1)
fewer_turns            cochlea with 1.5-1.9 turns                                  none (1)
incomplete_partition   Mondini / IP-II: ~1.5 turns, cystic apex, dilated vestibule none (1)
hypoplastic_canal[:k]  canal k (default: random, mostly lateral) small and thin    none (1)
missing_canal[:k]      canal k absent (repeat for more canals)                     +1 per canal
common_cavity          cochlea+vestibule one cyst (labelled vestibule), no canals  4 (disorganised)
implant                cochlear-implant electrode in the scala tympani, streaks    none (1)
incomplete_fov         field of view cuts off the top of the superior canal        +1 (incomplete)
otitis_media           middle ear, antrum and mastoid cells filled with effusion   none (1)
=====================  ==========================================================  ==============

Likert (seed paper, Table 1): 1 complete; 2 one of the five structures missing; 3 two missing;
4 three or more missing or the labyrinth architecture substantially disorganised. A dehiscent
superior canal whose bone is really missing still scores 1.
"""
from __future__ import annotations

import numpy as np

from ..labels import Structure
from .anatomy import Labyrinth
from .surroundings import electrode_points

PATHOLOGIES = ("scd", "otosclerosis", "fewer_turns", "incomplete_partition", "hypoplastic_canal",
               "missing_canal", "common_cavity", "implant", "incomplete_fov", "otitis_media")
CANALS = ("superior", "lateral", "posterior")
LOST = ("missing", "incomplete")


def parse_pathology(spec: str) -> tuple[str, str | None]:
    """Split ``name[:argument]`` and validate it."""
    name, _, arg = str(spec).partition(":")
    if name not in PATHOLOGIES:
        raise ValueError(f"unknown pathology {spec!r}; expected one of {list(PATHOLOGIES)} "
                         "(canal pathologies take an optional ':superior|lateral|posterior')")
    if arg and (name not in ("hypoplastic_canal", "missing_canal") or arg not in CANALS):
        raise ValueError(f"pathology {spec!r}: only hypoplastic_canal/missing_canal take an argument, "
                         f"one of {list(CANALS)}")
    return name, arg or None


def _pick_canal(rng, arg, taken) -> str:
    if arg:
        return arg
    free = [c for c in ("lateral", "superior", "posterior") if c not in taken] or list(CANALS)
    weights = np.array([0.6 if c == "lateral" else 0.2 for c in free])
    return str(rng.choice(free, p=weights / weights.sum()))


def apply_before_build(specs, params: dict, rng: np.random.Generator) -> tuple[dict, dict, bool, list]:
    """Edit anatomy parameters for the malformations in `specs`.

    Returns (params, structure status, common_cavity flag, records) where each record is a JSON-able
    dict ``{"name", "structure", "effect", "likert_effect"}``.
    """
    p = dict(params)
    status: dict[str, str] = {}
    records: list[dict] = []
    cavity = False
    taken: list[str] = []
    for spec in specs:
        name, arg = parse_pathology(spec)
        rec = {"name": name, "structure": None, "effect": "", "likert_effect": "none"}
        if name == "fewer_turns":
            p["cochlea_turns"] = float(rng.uniform(1.5, 1.9))
            rec.update(structure="cochlea", effect=f"cochlea with {p['cochlea_turns']:.2f} turns")
        elif name == "incomplete_partition":
            p["cochlea_turns"] = float(rng.uniform(1.4, 1.7))
            p["cochlea_apex_cyst_mm"] = float(rng.uniform(2.4, 3.0))
            p["vestibule_dilation"] = float(rng.uniform(1.15, 1.3))
            rec.update(structure="cochlea", effect="incomplete partition type II: "
                       f"{p['cochlea_turns']:.2f} turns, cystic apex, vestibule x{p['vestibule_dilation']:.2f}")
        elif name in ("hypoplastic_canal", "missing_canal"):
            canal = _pick_canal(rng, arg, taken)
            taken.append(canal)
            if name == "missing_canal":
                status[canal] = "missing"
                rec.update(structure=canal, effect=f"{canal} canal absent", likert_effect="+1 structure missing")
            else:
                status.setdefault(canal, "hypoplastic")
                p[f"{canal}_radius_scale"] = float(rng.uniform(0.55, 0.7))
                p[f"{canal}_lumen_scale"] = float(rng.uniform(0.65, 0.8))
                rec.update(structure=canal, effect=f"{canal} canal hypoplastic (radius x"
                           f"{p[f'{canal}_radius_scale']:.2f}, lumen x{p[f'{canal}_lumen_scale']:.2f})")
        elif name == "common_cavity":
            cavity = True
            p["common_cavity_semi_mm"] = [float(v) for v in rng.uniform([2.6, 3.6, 3.0], [3.4, 4.6, 3.8])]
            rec.update(structure="cochlea", effect="common cavity: no cochlea, no canals",
                       likert_effect="4 (architecture disorganised)")
        elif name == "scd":
            status["superior"] = "dehiscent"
            p["dehiscence_mm"] = float(rng.uniform(2.5, 5.0))
            rec.update(structure="superior", effect=f"bone over the superior canal missing over "
                       f"{p['dehiscence_mm']:.1f} mm")
        elif name == "otosclerosis":
            p["otosclerosis_foci"] = int(rng.integers(1, 4))
            rec.update(structure=None, effect=f"{p['otosclerosis_foci']} low-density foci in the otic capsule")
        elif name == "implant":
            p["electrode_insertion_deg"] = float(rng.uniform(300, 540))
            rec.update(structure="cochlea", effect=f"electrode in the scala tympani, "
                       f"{p['electrode_insertion_deg']:.0f} deg insertion, metal streaks")
        elif name == "otitis_media":
            p["middle_ear_fill_hu"] = float(rng.uniform(10, 70))
            rec.update(structure=None, effect=f"middle ear, antrum and mastoid cells filled with effusion "
                       f"({p['middle_ear_fill_hu']:.0f} HU)")
        elif name == "incomplete_fov":
            p["fov_cut_fraction"] = float(rng.uniform(0.35, 0.8))
            rec.update(structure="superior", effect="field of view cuts off the top of the superior canal "
                       f"({100 * p['fov_cut_fraction']:.0f}% of its arc radius)",
                       likert_effect="+1 structure incomplete")
        records.append(rec)
    return p, status, cavity, records


def ct_effects(lab: Labyrinth, rng: np.random.Generator) -> dict:
    """CT-only effects of the pathologies recorded in ``lab.params`` (ear frame geometry)."""
    p = lab.params
    eff: dict = {}
    if p.get("dehiscence_mm") and lab.structures.get("superior") != "missing":
        eff["dehiscence_mm"] = p["dehiscence_mm"]
    if p.get("otosclerosis_foci"):
        ow = lab.landmarks_mm["oval_window"]
        sites = [ow + np.array([-0.6, -1.6, 0.0]), lab.landmarks_mm["round_window"] + np.array([-0.8, -0.6, -0.6]),
                 ow + np.array([-2.5, -3.5, -1.0])]
        eff["otosclerosis_foci"] = [(sites[i] + rng.uniform(-0.4, 0.4, 3), float(rng.uniform(1.0, 1.8)),
                                     float(rng.uniform(900, 1600))) for i in range(p["otosclerosis_foci"])]
    if p.get("middle_ear_fill_hu") is not None:
        eff["middle_ear_fill_hu"] = float(p["middle_ear_fill_hu"])
    if p.get("electrode_insertion_deg") and lab.structures.get("cochlea") != "missing":
        eff["electrode_points"] = electrode_points(lab, p["electrode_insertion_deg"])
        eff["electrode_radius_mm"] = 0.3
    return eff


def likert_score(status: dict[str, str], disorganised: bool = False) -> int:
    """Likert score a reader would give one ear (seed paper, Table 1)."""
    if disorganised:
        return 4
    lost = sum(1 for st in Structure if status.get(st.key, "present") in LOST)
    return min(1 + lost, 4)


#: Relative frequency of each pathology when drawing training cases (:func:`draw_pathologies`).
TRAINING_WEIGHTS = {"scd": 1.0, "otosclerosis": 1.0, "fewer_turns": 0.6, "incomplete_partition": 0.6,
                    "hypoplastic_canal": 0.8, "missing_canal": 1.0, "common_cavity": 0.3, "implant": 0.8,
                    "incomplete_fov": 0.8, "otitis_media": 1.0}


def draw_pathologies(rng: np.random.Generator, *, probability: float = 0.3, max_count: int = 2) -> tuple[str, ...]:
    """Random pathology names for one ear: none with ``1 - probability``, else 1..`max_count` distinct ones.

    Canal pathologies get a random canal (``missing_canal:lateral``). Use it to mix abnormal ears into
    training, e.g. ``generate_roi(seed, side, pathologies=draw_pathologies(np.random.default_rng(seed)))``.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    if rng.random() >= probability:
        return ()
    names = list(TRAINING_WEIGHTS)
    weights = np.array([TRAINING_WEIGHTS[n] for n in names])
    count = int(rng.integers(1, max(1, max_count) + 1))
    chosen = rng.choice(names, size=min(count, len(names)), replace=False, p=weights / weights.sum())
    out = []
    for name in chosen:
        if name in ("missing_canal", "hypoplastic_canal"):
            name = f"{name}:{rng.choice(CANALS)}"
        out.append(str(name))
    return tuple(out)
