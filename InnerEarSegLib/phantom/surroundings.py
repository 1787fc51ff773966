"""Everything around the labyrinth that a network must learn to ignore.

Ear-local solids (ear frame, left chirality, mm; the right ear is mirrored by its placement):
temporal and petrous bone (cut by the tegmen just above the superior canal), mastoid with air cells
and thin septa, tympanic cavity, epitympanum and antrum, ossicles (malleus, incus, stapes reaching
the oval window), external auditory canal (EAC) opening to the air, internal auditory canal (IAC,
CSF), facial-nerve canal (labyrinthine, tympanic and mastoid segments), carotid canal and jugular
bulb. Head-level tissues (head frame): scalp, skull tables with diploe, brain, skull-base soft tissue,
air outside. The dense otic capsule is derived from the labyrinth itself (see :mod:`.render`).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .anatomy import Labyrinth, rotation_xyz_deg
from .shapes import Solid, ellipsoid, tube

#: Region of the ear frame that ear-local tissues may touch (mm): lo, hi.
EAR_REGION_MM = (np.array([-22.0, -24.0, -24.0]), np.array([44.0, 30.0, 18.0]))


def draw_tissue_hu(rng: np.random.Generator) -> dict:
    """Tissue CT numbers (HU) before blur, noise and scanner offsets (anatomy.md ranges)."""
    return {
        "otic_capsule": float(rng.uniform(2100, 2500)),
        "petrous": float(rng.uniform(1300, 1800)),
        "temporal": float(rng.uniform(1000, 1400)),
        "septa": float(rng.uniform(900, 1300)),
        "ossicle": float(rng.uniform(1300, 1800)),
        "skull": float(rng.uniform(1400, 1900)),
        "diploe": float(rng.uniform(400, 800)),
        "fluid": float(rng.uniform(0, 40)),
        "csf": float(rng.uniform(0, 15)),
        "brain": float(rng.uniform(25, 45)),
        "soft": float(rng.uniform(20, 80)),
        "blood": float(rng.uniform(35, 55)),
        "air": -1000.0,
    }


def draw_surroundings_params(rng: np.random.Generator) -> dict:
    """Geometry jitter of the ear-local surroundings (mm) and mastoid pneumatisation."""
    return {
        "shift_mm": [float(v) for v in rng.uniform(-0.8, 0.8, 3)],
        "tegmen_roof_mm": float(rng.uniform(0.7, 2.0)),
        "mastoid_pneumatisation": float(rng.uniform(0.35, 0.9)),
        "mastoid_cell_mm": float(rng.uniform(0.7, 1.1)),
        "mastoid_septum_mm": float(rng.uniform(0.25, 0.5)),
        "eac_radius_mm": float(rng.uniform(3.2, 4.3)),
        "iac_radius_mm": float(rng.uniform(1.9, 2.5)),
        "carotid_radius_mm": float(rng.uniform(2.3, 3.0)),
        "middle_ear_width_mm": float(rng.uniform(1.8, 2.6)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
        "bone_texture_hu": float(rng.uniform(60, 160)),
        "capsule_sigma_mm": float(rng.uniform(0.9, 1.5)),
        "vestibular_aqueduct_radius_mm": float(rng.uniform(0.25, 0.45)),
        "bone_edge_wobble_mm": float(rng.uniform(1.0, 2.5)),
    }


#: Calibrated anatomy's surroundings (:func:`widen_surroundings`). The classic phantom builds its petrous
#: bone around its own labyrinth: every ear-local solid within 0.8 mm of the same place, the tegmen
#: 0.7-2.0 mm above the superior canal's roof, a capsule of one smoothing width. Real labyrinths sit less
#: tidily in their bone: the superior canal often rises into the arcuate eminence under a capsule shell
#: with little petrous bone above it (thin in many temporal bones, absent in about 0.5 %: Carey et al.,
#: Arch Otolaryngol Head Neck Surg 2000), the lateral canal bulges into the antrum, the capsule's thickness
#: varies. This is real variation for a network to see; it is not what makes real superior canals hard
#: (measured: docs/model.md, "The superior canal's surroundings measured").
CALIBRATED_SURROUNDINGS_RANGES = {
    "shift_mm": (-1.6, 1.6),         # every ear-local solid (antrum, tympanic cavity, IAC, petrous) per axis
    "tegmen_roof_mm": (-1.2, 2.0),   # below 0: the canal's top rises above the petrous surface, capsule only
    "capsule_sigma_mm": (0.7, 1.5),  # smoothing width of the capsule around the lumen: its thickness
}


def widen_surroundings(sp: dict, rng: np.random.Generator) -> dict:
    """`sp` with the placement, tegmen and capsule redrawn from :data:`CALIBRATED_SURROUNDINGS_RANGES`.

    Drawn from its own stream so that every other surroundings value (mastoid, canals' radii, noise
    seeds) is the one the same seed gives the classic phantom.
    """
    r = CALIBRATED_SURROUNDINGS_RANGES
    return {**sp, "shift_mm": [float(v) for v in rng.uniform(*r["shift_mm"], 3)],
            "tegmen_roof_mm": float(rng.uniform(*r["tegmen_roof_mm"])),
            "capsule_sigma_mm": float(rng.uniform(*r["capsule_sigma_mm"]))}


def superior_canal_top(lab: Labyrinth) -> np.ndarray | None:
    """Highest centre-line point of the superior canal (ear frame), or None if the canal is missing."""
    for t in lab.tubes:
        if t.name == "superior canal":
            return t.points_mm[int(np.argmax(t.points_mm[:, 2]))]
    return None


def tegmen_height_mm(lab: Labyrinth, sp: dict) -> float:
    """Ear-frame height of the petrous bone's upper surface: the superior canal's roof."""
    top = superior_canal_top(lab)
    z = top[2] + 0.5 if top is not None else lab.centre_mm[2] + 5.0
    return float(z + sp["tegmen_roof_mm"])


def ear_solids(lab: Labyrinth, sp: dict) -> list[tuple[str, Solid, str]]:
    """(name, solid, tissue) layers in painting order, ear frame."""
    s = np.asarray(sp["shift_mm"])
    petrous_axis = rotation_xyz_deg([0, 0, 45])  # long axis antero-medial
    w = sp["middle_ear_width_mm"]
    ow = lab.landmarks_mm["oval_window"]
    layers = [
        ("temporal bone", ellipsoid(s + [15.0, 3.0, -6.0], [25.0, 21.0, 16.0]), "temporal"),
        ("petrous bone", ellipsoid(s + [-7.0, -5.0, -1.5], [26.0, 9.0, 8.5],
                                   petrous_axis @ rotation_xyz_deg([0, 0, 90])), "petrous"),
        ("mastoid", ellipsoid(s + [11.0, 13.0, -7.0], [10.0, 12.0, 14.0]), "mastoid"),
        ("tympanic cavity", ellipsoid(s + [4.3 + w, -1.5, -0.8], [w, 5.5, 6.0]), "air"),
        ("epitympanum", ellipsoid(s + [4.8 + 0.5 * w, 0.5, 3.8], [2.4, 3.8, 2.3]), "air"),
        ("antrum", ellipsoid(s + [6.0, 6.5, 3.0], [3.0, 4.0, 2.8]), "air"),
        ("external auditory canal", tube(np.array([[4.3 + 2 * w, -2.0, -1.5], [16.0, -2.5, -0.5],
                                                   [38.0, -4.0, 1.0]]) + s, sp["eac_radius_mm"]), "air"),
        ("internal auditory canal", tube(np.array([[-2.6, -2.8, -0.6], [-9.0, -3.2, -1.0], [-18.0, -3.5, -1.2]]) + s,
                                         [0.9, sp["iac_radius_mm"], sp["iac_radius_mm"] + 0.6]), "csf"),
        ("facial canal", tube(np.array([[-2.6, -2.8, 0.4], [-0.3, -4.6, 1.4], [3.0, -2.2, 0.6], [3.4, 2.5, 0.2],
                                        [4.4, 5.8, -1.8], [4.8, 7.0, -16.0]]), 0.65), "soft"),
        ("carotid canal", tube(np.array([[-3.5, -8.5, -24.0], [-3.5, -9.0, -8.0], [-6.0, -10.5, -5.5],
                                         [-16.0, -16.0, -5.0]]) + s, sp["carotid_radius_mm"]), "blood"),
        ("jugular bulb", ellipsoid(s + [-3.0, 4.5, -9.5], [4.0, 4.5, 3.5]), "blood"),
        ("malleus", tube(np.array([[5.0 + 0.4 * w, -1.6, 4.2], [5.2 + 0.4 * w, -1.6, 2.6],
                                   [4.6 + 2 * w, -1.4, -2.2]]), [1.2, 0.6, 0.35]), "ossicle"),
        ("incus", tube(np.array([[5.2 + 0.4 * w, 0.4, 3.8], [5.3 + 0.3 * w, 1.8, 3.0], [4.4, 0.4, 0.2]]),
                       [1.1, 0.5, 0.35]), "ossicle"),
        ("stapes", tube(np.array([[4.4, 0.4, 0.2], ow + [0.4, 0.0, 0.0]]), [0.35, 0.55]), "ossicle"),
    ]
    return layers


def capsule_channels(lab: Labyrinth, sp: dict) -> list[tuple[str, Solid, str]]:
    """Unlabelled channels through the otic capsule, painted after it: IAC fundus, facial canal,
    vestibular aqueduct (to the endolymphatic sac) and cochlear aqueduct (from the basal turn)."""
    by_name = {name: (solid, tissue) for name, solid, tissue in ear_solids(lab, sp)}
    rw = lab.landmarks_mm["round_window"]
    out = [(name, *by_name[name]) for name in ("internal auditory canal", "facial canal")]
    out.append(("vestibular aqueduct", tube(np.array([[-1.0, 1.2, 0.3], [-2.2, 3.6, -0.4], [-3.8, 6.5, -2.0],
                                                      [-5.0, 8.5, -3.5]]),
                                            [0.3, sp.get("vestibular_aqueduct_radius_mm", 0.35), 0.5, 1.2]),
                "fluid"))
    out.append(("cochlear aqueduct", tube(np.array([rw + [-0.6, 0.3, -0.4], rw + [-2.5, 1.0, -3.0],
                                                    rw + [-5.0, 1.5, -5.5]]), [0.2, 0.25, 0.6]), "csf"))
    return out


def mastoid_fields(x, y, z, sp: dict, centre_mm) -> np.ndarray:
    """Cell field minus the local pneumatisation threshold, as one smooth field (see below)."""
    f = lattice_noise(x, y, z, sp["noise_seed"], sp["mastoid_cell_mm"], np.asarray(centre_mm) - 16.0)
    # irregular extent: cells only where a coarse field exceeds a pneumatisation-dependent level
    extent = lattice_noise(x, y, z, sp["noise_seed"] + 1, 4.0, np.asarray(centre_mm) - 16.0)
    cells_here = np.clip((extent + np.float32(1.5 * sp["mastoid_pneumatisation"] - 0.5)) * 2.0 + 0.5, 0.0, 1.0)
    grad = 1.0 / max(sp["mastoid_cell_mm"], 0.5)
    return (cells_here * (np.abs(f) / grad + 1.0) - 1.0).astype(np.float32)  # -1 mm: no cells here


def mastoid_air_fraction(distance_to_septum_mm: np.ndarray, sp: dict) -> np.ndarray:
    """Air fraction of the pneumatised mastoid: cells of air separated by thin bony septa.

    Septa are the zero-level surfaces of a smooth random field defined on a fixed 1 mm lattice of
    the ear frame (so every grid samples the same cells); cells are where ``|field|`` is large.
    `distance_to_septum_mm` is :func:`mastoid_fields` (negative where the mastoid is not pneumatised).
    """
    septum_half_mm = 0.5 * sp["mastoid_septum_mm"]
    return np.clip((distance_to_septum_mm - septum_half_mm) / 0.2 + 0.5, 0.0, 1.0).astype(np.float32)


def lattice_noise(x, y, z, seed: int, smooth: float, lo_mm, size=34, step_mm: float = 1.0) -> np.ndarray:
    """Unit-SD smooth random field on a fixed lattice (origin `lo_mm`, `step_mm`) sampled at (x, y, z).

    The lattice belongs to the ear frame, so every grid (ROI box, full CT) sees the same field.
    """
    rng = np.random.default_rng(seed)
    shape = (size,) * 3 if np.isscalar(size) else tuple(size)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), smooth, mode="wrap")
    field /= field.std()
    coords = [((np.asarray(c, np.float32) - np.float32(lo_mm[k])) / np.float32(step_mm)).ravel()
              for k, c in enumerate((x, y, z))]
    return ndimage.map_coordinates(field.astype(np.float32), coords, order=1, mode="nearest").reshape(np.shape(x))


def ear_region_noise(x, y, z, seed: int, smooth: float) -> np.ndarray:
    """Unit-SD smooth field over the whole ear region (1 mm lattice of the ear frame)."""
    lo, hi = EAR_REGION_MM
    size = tuple(int(v) for v in np.ceil(hi - lo) + 2)
    return lattice_noise(x, y, z, seed, smooth, lo, size=size)


def electrode_points(lab: Labyrinth, insertion_deg: float) -> np.ndarray:
    """Centre line of a cochlear-implant electrode in the scala tympani from the round window (ear frame).

    Follows the cochlear duct from its basal end for `insertion_deg` degrees around the modiolus,
    shifted towards the scala tympani (the lower, basal side of the duct).
    """
    duct = next(t for t in lab.tubes if t.name == "cochlear duct")
    d = lab.params["derived"]
    axis = np.asarray(d["cochlea_axis"])
    rel = duct.points_mm - np.asarray(d["cochlea_base_centre_mm"])
    rel = rel - (rel @ axis)[:, None] * axis
    u = rel[0] / np.linalg.norm(rel[0])
    v = np.cross(axis, u)
    ang = np.degrees(np.unwrap(np.arctan2(rel @ v, rel @ u)))
    ang = np.abs(ang - ang[0])
    keep = ang <= insertion_deg
    return duct.points_mm[keep] - 0.3 * duct.radii_mm[keep, None] * axis[None, :]
