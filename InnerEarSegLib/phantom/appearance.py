"""Domain randomisation of the phantom's appearance, in the spirit of SynthSeg (Billot et al., Med Image Anal 2023).

``appearance="classic"`` (the default) is the renderer the bundled model 2.0.0 was trained on and stays
bit-identical. ``appearance="randomised"`` keeps the anatomy and the labels but draws what a network
should not learn to rely on:

* **tissue intensities** (:func:`draw_randomised_tissue_hu`): every tissue class's value drawn at
  random -- in 70 % of samples from wide CT-like bands (bone may be as faint as 500 HU above fluid),
  in 30 % anywhere in [-1000, 3000] HU but in the order every CT keeps (air darkest, every bone
  brighter than every fluid and soft tissue), always with the otic capsule at least 250 HU above the
  labyrinth fluid so that the labyrinth stays visible;
* **acquisition** (:func:`draw_randomised_physics`): anisotropic voxels (in plane 0.2-0.6 mm, x and y
  drawn apart), slice thickness (slice-profile FWHM) 0.3-1.25 mm at 0.6-1.0 x that spacing, an
  in-plane PSF of FWHM 0.3-1.2 mm, extra partial volume (box averaging over 1-3 voxels per axis),
  a multiplicative bias field and an additive cupping, correlated and white noise, streaks across
  the field and, in 15 % of samples, a metal bead with its streaks (:func:`apply_randomised_physics`);
* **distractors** (:func:`draw_distractors`, :func:`paint_distractors`): fluid-, CSF- or air-filled
  tubes and cavities of canal calibre in the bone around the labyrinth that are *not* labyrinth --
  an internal-auditory-canal-like tube, facial-canal-like and aqueduct-like channels, vessels, air
  cells and random tubes -- kept clear of the labelled labyrinth by a wall of bone the acquisition
  resolves (:data:`DEFAULT_CLEARANCE_MM`).

Everything is drawn from the case seed's own streams (``appearance``, ``distractors``), so a seed
gives the same sample every time.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..labels import Structure
from .anatomy import Ellipsoid, Labyrinth, Tube
from .physics import centred_box_filter, correlated_noise, metal_streaks
from .raster import Grid, labyrinth_block, rasterise_depth

APPEARANCES = ("classic", "randomised")
TISSUES = ("otic_capsule", "petrous", "temporal", "septa", "ossicle", "skull", "diploe", "fluid", "csf", "brain",
           "soft", "blood", "air")
_BANDS_HU = {"otic_capsule": (900, 3000), "petrous": (600, 2400), "temporal": (500, 2000), "septa": (300, 1800),
             "ossicle": (300, 2200), "skull": (600, 2400), "diploe": (100, 1200), "fluid": (-200, 350),
             "csf": (-200, 300), "brain": (-150, 300), "soft": (-200, 350), "blood": (-150, 400),
             "air": (-1024, -300)}


def check_appearance(appearance: str) -> str:
    """`appearance` if it is one of :data:`APPEARANCES`, else ValueError."""
    if appearance not in APPEARANCES:
        raise ValueError(f"appearance must be one of {APPEARANCES}, got {appearance!r}")
    return appearance


#: Tissue classes by what CT measures: bone attenuates more than any fluid or soft tissue, air least.
BONE_TISSUES = ("otic_capsule", "petrous", "temporal", "septa", "ossicle", "skull")
SOFT_TISSUES = ("fluid", "csf", "brain", "soft", "blood")


def draw_randomised_tissue_hu(rng: np.random.Generator) -> dict:
    """Random value (HU before physics) per tissue class; see the module docstring for the two modes.

    In the *arbitrary* mode the values are drawn anywhere in [-1000, 3000] HU, then dealt out in the
    one order every CT keeps whatever its calibration: air darkest, every bone brighter than every
    fluid and soft tissue (marrow, ``diploe``, anywhere above air). Contrast is never inverted: the
    input gate refuses images without that order (MR), so a network need not learn it.
    """
    arbitrary = bool(rng.uniform() < 0.3)
    for _ in range(100):
        if arbitrary:
            values = np.sort(rng.uniform(-1000, 3000, len(TISSUES)))
            n_bone, n_soft = len(BONE_TISSUES), len(SOFT_TISSUES)
            t = {"air": float(values[0])}
            t.update(zip(SOFT_TISSUES, (float(v) for v in rng.permutation(values[1:1 + n_soft]))))
            t.update(zip(BONE_TISSUES, (float(v) for v in rng.permutation(values[-n_bone:]))))
            t["diploe"] = float(rng.uniform(values[1], values[-1]))
        else:
            t = {k: float(rng.uniform(*_BANDS_HU[k])) for k in TISSUES}
        if t["otic_capsule"] - t["fluid"] >= 250:
            break
    t["mode"] = "arbitrary" if arbitrary else "ct_bands"
    return t


def draw_randomised_physics(rng: np.random.Generator, protocol: str) -> dict:
    """Randomised acquisition of one sample (mm, HU); ``protocol`` only sets the CBCT bone compression."""
    inplane = rng.uniform(0.2, 0.6, 2)
    thickness_mm = float(rng.uniform(0.3, 1.25))  # slice profile FWHM
    slice_mm = float(thickness_mm * rng.uniform(0.6, 1.0))  # slice spacing (overlapping reconstruction)
    p = {
        "protocol": protocol,
        "appearance": "randomised",
        "spacing_mm": [float(inplane[0]), float(inplane[1]), slice_mm],
        "psf_fwhm_mm": float(rng.uniform(0.3, 1.2)),
        "slice_fwhm_mm": thickness_mm,
        "partial_volume_vox": [int(v) for v in rng.integers(1, 4, 3)],
        "bias_amplitude": float(rng.uniform(0.0, 0.25)),
        "bias_wavelength_mm": float(rng.uniform(20.0, 80.0)),
        "cupping_hu": float(rng.uniform(-250, 250)),
        "noise_sd_hu": float(rng.uniform(5, 250)),
        "noise_corr": float(rng.uniform(0.0, 0.9)),
        "white_noise_sd_hu": float(rng.uniform(0, 80)),
        "streak_hu": float(rng.uniform(0, 200)),
        "streak_angles_deg": [float(v) for v in rng.uniform(0, 180, int(rng.integers(0, 10)))],
        "metal": bool(rng.uniform() < 0.15),
        "hu_offset": float(rng.uniform(-150, 150)),
        "hu_gain": float(rng.uniform(0.7, 1.3)),
        "bone_gain": float(rng.uniform(0.4, 0.65)) if protocol == "cbct" else 1.0,
        "seed": int(rng.integers(0, 2**31 - 1)),
    }
    return p


def _world_axes(grid: Grid, centre_mm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nz, ny, nx = grid.shape_zyx
    o, s = np.asarray(grid.origin_lps_mm, float), np.asarray(grid.spacing_mm, float)
    x = (o[0] + s[0] * np.arange(nx) - centre_mm[0]).astype(np.float32)[None, None, :]
    y = (o[1] + s[1] * np.arange(ny) - centre_mm[1]).astype(np.float32)[None, :, None]
    z = (o[2] + s[2] * np.arange(nz) - centre_mm[2]).astype(np.float32)[:, None, None]
    return x, y, z


def bias_field(grid: Grid, amplitude: float, wavelength_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative field ``1 + amplitude * f`` with f in [-1, 1] (a few random plane waves)."""
    x, y, z = _world_axes(grid, grid.origin_lps_mm)
    f = np.zeros(grid.shape_zyx, np.float32)
    for _ in range(4):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        w = np.float32(2 * np.pi / wavelength_mm)
        f += np.sin(w * (d[0] * x + d[1] * y + d[2] * z) + np.float32(rng.uniform(0, 2 * np.pi)))
    return np.float32(1.0) + np.float32(amplitude / 4.0) * f


def apply_randomised_physics(hu: np.ndarray, grid: Grid, phys: dict, *, centre_world_mm,
                             rng: np.random.Generator) -> np.ndarray:
    """Partial volume, metal, blur, bias, cupping, streaks, noise, gain and clipping (float32 HU)."""
    sp = np.asarray(grid.spacing_mm, float)
    if phys["protocol"] == "cbct":
        bone = hu > 200
        hu[bone] = np.float32(200) + (hu[bone] - np.float32(200)) * np.float32(phys["bone_gain"])
    if phys["metal"]:
        _metal_bead(hu, grid, centre_world_mm, rng)
    if hu.max() > 3000:
        metal_streaks(hu, grid, float(rng.uniform(300, 900)), rng)
    pv = phys["partial_volume_vox"][::-1]
    if max(pv) > 1:
        hu = centred_box_filter(hu, pv)  # centred: an even width must not move the image off its labels
    sig_mm = np.array([phys["psf_fwhm_mm"], phys["psf_fwhm_mm"], phys["slice_fwhm_mm"]]) / 2.3548
    hu = ndimage.gaussian_filter(hu, (sig_mm / sp)[::-1], mode="nearest", truncate=3.0)
    hu *= bias_field(grid, phys["bias_amplitude"], phys["bias_wavelength_mm"], rng)
    x, y, z = _world_axes(grid, centre_world_mm)
    r2 = (x * x + y * y) / np.float32(60.0**2)
    shading = np.float32(-phys["cupping_hu"]) * np.clip(1.0 - r2, 0.0, 1.0)
    for i, a in enumerate(np.radians(phys["streak_angles_deg"])):
        dist = np.abs(-np.sin(a) * x + np.cos(a) * y - np.float32(rng.uniform(-10, 10)))
        shading = shading + np.float32(phys["streak_hu"] * (-1) ** i) * np.exp(-(dist * dist) / np.float32(0.5))
    hu += shading
    noise = correlated_noise(hu.shape, phys["noise_corr"], rng)
    hu += np.float32(phys["noise_sd_hu"]) * noise
    hu += np.float32(phys["white_noise_sd_hu"]) * rng.standard_normal(hu.shape, dtype=np.float32)
    hu *= np.float32(phys["hu_gain"])
    hu += np.float32(phys["hu_offset"])
    np.clip(hu, -1024.0, 3071.0, out=hu)
    return hu


def _metal_bead(hu: np.ndarray, grid: Grid, centre_world_mm, rng: np.random.Generator) -> None:
    """A 0.3-0.8 mm metal bead 6-14 mm from the ear centre (a clip, a dental filling, an electrode tip)."""
    d = rng.normal(size=3)
    pos = np.asarray(centre_world_mm, float) + d / np.linalg.norm(d) * rng.uniform(6.0, 14.0)
    x, y, z = _world_axes(grid, pos)
    hu[(x * x + y * y + z * z) <= np.float32(rng.uniform(0.3, 0.8) ** 2)] = np.float32(9000.0)


# --------------------------------------------------------------------------- distractors
#: Bone left between a distractor and the labelled labyrinth (mm). At 0.4 mm (until 2026-12-02) 9 of 12
#: randomised ears (seeds 8000-8011) had distractor fluid painted within 1 mm of the labyrinth, up to
#: 22 mm^3: after a 0.5-1.2 mm PSF that fluid is one lumen with the canal beside it, labelled background,
#: which teaches a network that part of a canal may be background. Real channels near the labyrinth
#: (facial canal, aqueducts, IAC fundus) are walled off from it by bone.
DEFAULT_CLEARANCE_MM = 1.2
#: What :func:`draw_distractors` draws. Canal-like arcs (radius 2-4 mm, 120-300 deg, canal calibre) were
#: drawn until 2026-12-02: no fluid arc of that kind lies in real petrous bone, and networks trained with
#: them rejected the parts of real canals that their training shapes lack (docs/model.md).
DISTRACTOR_KINDS = ("iac", "facial", "aqueduct", "vessel", "air_cell", "random_tube")


def draw_distractors(rng: np.random.Generator) -> list[dict]:
    """2-7 structures that are not labyrinth (ear frame mm): kind, points or centre, radius, filling tissue."""
    out = []
    for _ in range(int(rng.integers(2, 8))):
        kind = str(rng.choice(DISTRACTOR_KINDS))
        start = rng.uniform(-9.0, 9.0, 3)
        if kind == "air_cell":
            out.append({"kind": kind, "centre_mm": start.tolist(), "semi_mm": rng.uniform(0.5, 2.0, 3).tolist(),
                        "tissue": "air"})
            continue
        radius = {"iac": (1.2, 2.2), "facial": (0.35, 0.7), "aqueduct": (0.2, 0.5), "vessel": (0.3, 1.0),
                  "random_tube": (0.3, 0.7)}[kind]
        step = rng.normal(size=3)  # a smooth random walk of 4-16 mm
        pts = [start]
        for _ in range(40):
            step = 0.85 * step + 0.15 * rng.normal(size=3)
            pts.append(pts[-1] + 0.1 * rng.uniform(1.0, 4.0) * step / np.linalg.norm(step))
        pts = np.asarray(pts)
        if kind in ("iac", "vessel"):
            tissue = "csf" if kind == "iac" else "blood"
        else:
            tissue = str(rng.choice(["fluid", "csf", "soft"]))
        out.append({"kind": kind, "points_mm": pts.tolist(), "radius_mm": float(rng.uniform(*radius)),
                    "tissue": tissue})
    return out


def paint_distractors(hu: np.ndarray, labels: np.ndarray, grid: Grid, distractors: list[dict], tissue_hu: dict,
                      rot: np.ndarray, shift: np.ndarray, *, clearance_mm: float = DEFAULT_CLEARANCE_MM) -> None:
    """Paint `distractors` (ear frame, placed by ``world = rot @ p + shift``) into `hu` (in place).

    Voxels within `clearance_mm` of a labelled labyrinth voxel (`labels` > 0 on the same grid) are
    left alone, so no distractor touches or changes the labyrinth.
    """
    width = float(np.prod(grid.spacing_mm) ** (1.0 / 3.0))
    prims = []
    for d in distractors:
        if "points_mm" in d:
            pts = np.asarray(d["points_mm"], float)
            prims.append(Tube(Structure.COCHLEA, pts, np.full(len(pts), d["radius_mm"]), d["kind"]))
        else:
            prims.append(Ellipsoid(Structure.COCHLEA, np.asarray(d["centre_mm"], float), np.eye(3),
                                   np.asarray(d["semi_mm"], float), d["kind"]))
    sp = np.asarray(grid.spacing_mm, float)[::-1]
    pad = np.ceil(clearance_mm / sp).astype(int) + 1
    for d, prim in zip(distractors, prims):
        fake = Labyrinth((prim,) if isinstance(prim, Tube) else (), (prim,) if isinstance(prim, Ellipsoid) else (),
                         {}, {})
        block = labyrinth_block(grid, fake, rot, shift, width)
        if block is None:
            continue
        sl = tuple(slice(lo, hi) for lo, hi in zip(*block))
        depth = rasterise_depth(grid.sub_grid(*block), fake, rot, shift, margin_mm=width)[0]
        m = np.clip(0.5 + depth / np.float32(width), 0.0, 1.0)
        lo = np.maximum(np.asarray(block[0]) - pad, 0)
        hi = np.minimum(np.asarray(block[1]) + pad, grid.shape_zyx)
        near = labels[tuple(slice(a, b) for a, b in zip(lo, hi))] > 0
        if near.any():  # within clearance of the labyrinth (the EDT looks `pad` voxels beyond the block)
            close = ndimage.distance_transform_edt(~near, sampling=sp) <= clearance_mm + 1e-6
            inner = tuple(slice(a - l, a - l + (b - a)) for a, b, l in zip(block[0], block[1], lo))
            m[close[inner]] = 0.0
        region = hu[sl]
        region += m * (np.float32(tissue_hu[d["tissue"]]) - region)
