"""Public entry points: :func:`generate_roi` (one ear's model box) and :func:`generate` (full head CT)."""
from __future__ import annotations

import dataclasses

import numpy as np
import SimpleITK as sitk

from ..box import BoxSpec, make_ear_box, resample_to_box
from ..labels import Side
from .appearance import (apply_randomised_physics, check_appearance, draw_distractors, draw_randomised_physics,
                         draw_randomised_tissue_hu, paint_distractors)
from .case import build_scene, check_anatomy, ear_meta, stream, to_world
from .pathology import parse_pathology
from .physics import PROTOCOLS, apply_physics, draw_physics_params
from .raster import Grid, rasterise_labels
from .render import render

ROI_MARGIN_MM = 1.1  # >= 3 sigma of the widest PSF (FWHM 0.8 mm) around the box


def _check_common(protocol: str, pathologies) -> tuple[str, ...]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if isinstance(pathologies, str):
        pathologies = (pathologies,)
    out = tuple(pathologies or ())
    for p in out:
        parse_pathology(p)
    return out


def fov_cut_z_mm(ear, fraction: float) -> float | None:
    """World z above which an incomplete scan ends: `fraction` of the superior arc radius below its top."""
    lab = ear.labyrinth
    tube = next((t for t in lab.tubes if t.name == "superior canal"), None)
    if tube is None:
        return None
    world = tube.points_mm @ ear.rot.T + ear.shift
    return float(world[:, 2].max() - fraction * lab.params["superior_radius_mm"])


def _roi_grid(box, phys: dict, rng: np.random.Generator, z_max_mm: float | None) -> Grid:
    """World-axis-aligned acquisition grid covering the box plus a margin, at a random lattice phase."""
    n = box.spec.size_vox - 1
    idx = np.array([[z, y, x] for z in (0, n) for y in (0, n) for x in (0, n)], float)
    pts = box.index_to_lps_mm(idx)
    sp = np.asarray(phys["spacing_mm"], float)
    lo = pts.min(axis=0) - ROI_MARGIN_MM - rng.uniform(0, 1, 3) * sp
    hi = pts.max(axis=0) + ROI_MARGIN_MM
    if z_max_mm is not None:
        hi[2] = min(hi[2], z_max_mm)
    size = np.maximum(np.ceil((hi - lo) / sp).astype(int) + 1, 2)
    if z_max_mm is not None:
        size[2] = max(int(np.floor((z_max_mm - lo[2]) / sp[2])) + 1, 2)
    return Grid((int(size[2]), int(size[1]), int(size[0])), tuple(float(v) for v in lo), tuple(float(v) for v in sp))


def generate_roi(seed: int, side: Side, *, spec: BoxSpec = BoxSpec(), protocol: str = "mdct", pathologies=(),
                 centre_offset_mm=None, anatomy: str = "classic", appearance: str = "classic"
                 ) -> tuple[sitk.Image, sitk.Image, dict]:
    """One ear's model box: CT (float32 HU) and labels (uint8 1-5) on the :class:`~InnerEarSegLib.box.EarBox` grid.

    The ear is rendered in its head pose on an anisotropic acquisition grid, passed through the CT
    physics of `protocol`, and resampled onto the box with :func:`~InnerEarSegLib.box.resample_to_box`
    (what inference does, so a right ear comes out mirrored). Labels are evaluated at the box voxel
    centres from the exact geometry.

    Parameters
    ----------
    seed : int
        Case seed; same seed and options give the same arrays.
    side : Side
        Which ear.
    spec : BoxSpec
        Box size and spacing (default 96^3 at 0.3 mm).
    protocol : {"mdct", "cbct"}
    pathologies : sequence of str
        Names from :data:`.pathology.PATHOLOGIES`, optionally ``name:argument``.
    centre_offset_mm : (3,) floats or None
        Box centre minus labyrinth centre (LPS mm); None draws a jitter uniformly within +-3 mm.
    anatomy : {"classic", "calibrated"}
        ``classic``: the generator model 2.0.0 was trained on; ``calibrated``: ranges calibrated to
        real labyrinths, elastic deformation, asymmetric vestibule (:mod:`.calibrated`).
    appearance : {"classic", "randomised"}
        ``randomised``: random tissue intensities, acquisition, artefacts and distractors
        (:mod:`.appearance`); the labels are unchanged by it.

    Returns
    -------
    ct_box, labels_box : SimpleITK.Image
    meta : dict
        ``labyrinth_centre_lps_mm``, ``structures_present``, ``likert``, ``landmarks_lps_mm``,
        ``protocol``, ``pathologies``, ``physics``, ``box`` ...
    """
    side = Side(side)
    pathologies = _check_common(protocol, pathologies)
    check_appearance(appearance)
    scene, metas = build_scene(seed, {side: pathologies}, anatomy=check_anatomy(anatomy))
    randomised = appearance == "randomised"
    if randomised:
        rng_app = stream(seed, "appearance")
        scene = dataclasses.replace(scene, tissue_hu=draw_randomised_tissue_hu(rng_app))
    ear = scene.ears[0]
    centre = np.asarray(to_world(ear, ear.labyrinth.centre_mm))
    if centre_offset_mm is None:
        offset = stream(seed, "jitter", side).uniform(-3.0, 3.0, 3)
    else:
        offset = np.asarray(centre_offset_mm, float)
        if offset.shape != (3,) or not np.all(np.isfinite(offset)):
            raise ValueError(f"centre_offset_mm must be 3 finite numbers (mm) or None, got {centre_offset_mm!r}")
    box = make_ear_box(centre + offset, side, spec)
    phys = (draw_randomised_physics(rng_app, protocol) if randomised
            else draw_physics_params(stream(seed, "physics"), protocol, mode="roi"))
    frac = ear.labyrinth.params.get("fov_cut_fraction")
    z_cut = fov_cut_z_mm(ear, frac) if frac else None
    grid = _roi_grid(box, phys, stream(seed, "fov"), z_cut)
    hu, acq_labels, _ = render(grid, scene)
    distractors = []
    if randomised:
        distractors = draw_distractors(stream(seed, "distractors", side))
        paint_distractors(hu, acq_labels, grid, distractors, scene.tissue_hu, ear.rot, ear.shift)
        hu = apply_randomised_physics(hu, grid, phys, centre_world_mm=centre, rng=np.random.default_rng(phys["seed"]))
    else:
        hu = apply_physics(hu, grid, phys, isocentre_world_mm=scene.head_origin_world_mm,
                           rng=np.random.default_rng(phys["seed"]))
    ct_box = resample_to_box(grid.image(hu), box)
    box_grid = Grid.of_image(box.reference_image())
    labels = rasterise_labels(box_grid, ear.labyrinth, ear.rot, ear.shift)
    override = {}
    if z_cut is not None:
        labels = _cut_labels(labels, box, z_cut)
        override = {"superior": "incomplete"}
    labels_box = box_grid.image(labels)
    meta = ear_meta(ear, metas[0], status_override=override)
    meta.update({
        "mode": "roi",
        "seed": int(seed),
        "protocol": protocol,
        "physics": phys,
        "head": scene.head,
        "tissue_hu": scene.tissue_hu,
        "fov_top_z_mm": z_cut,
        "acquisition_grid": {"shape_zyx": list(grid.shape_zyx), "origin_lps_mm": list(grid.origin_lps_mm),
                             "spacing_mm": list(grid.spacing_mm)},
        "box": {"side": side.value, "centre_lps_mm": list(box.centre_lps_mm), "size_vox": spec.size_vox,
                "spacing_mm": spec.spacing_mm, "centre_offset_mm": [float(v) for v in offset]},
    })
    _note_options(meta, anatomy, appearance, distractors)
    return ct_box, labels_box, meta


def _note_options(meta: dict, anatomy: str, appearance: str, distractors) -> None:
    """Record non-default generator options in the sidecar (the classic sidecar stays byte-identical)."""
    if anatomy != "classic":
        meta["anatomy_variant"] = anatomy
    if appearance != "classic":
        meta["appearance"] = appearance
        meta["distractors"] = distractors


def _cut_labels(labels: np.ndarray, box, z_cut: float) -> np.ndarray:
    """Zero the labels whose voxel centres lie above the scan's top (world z > z_cut)."""
    kz = np.arange(labels.shape[0])
    z_world = box.index_to_lps_mm(np.stack([kz, np.zeros_like(kz), np.zeros_like(kz)], axis=1))[:, 2]
    out = labels.copy()
    out[z_world > z_cut] = 0
    return out


FOVS = ("both", "left", "right")


def _assign_pathologies(seed: int, pathologies, sides) -> dict[Side, list[str]]:
    """Per-ear pathology lists: ``name@left`` / ``name@right`` pins an ear, otherwise a seeded random ear."""
    rng = stream(seed, "pathology")
    out: dict[Side, list[str]] = {s: [] for s in sides}
    for spec in pathologies:
        name, _, where = str(spec).partition("@")
        parse_pathology(name)
        if where:
            try:
                side = Side(where)
            except ValueError:
                raise ValueError(f"pathology {spec!r}: the ear after '@' must be 'left' or 'right'") from None
            if side not in out:
                raise ValueError(f"pathology {spec!r}: the {side.value} ear is not in the field of view")
        else:
            side = sides[int(rng.integers(0, len(sides)))]
        out[side].append(name)
    return out


def _full_grid(scene, phys: dict, fov: str, matrix: int, slices: int, rng: np.random.Generator) -> Grid:
    """Axial scanner grid: `matrix` x `matrix` x `slices`, centred on the ear(s) with a random shift."""
    centres = {e.side: np.asarray(to_world(e, e.labyrinth.centre_mm)) for e in scene.ears}
    if fov == "both":
        centre = 0.5 * (centres[Side.LEFT] + centres[Side.RIGHT])
    else:
        centre = centres[Side(fov)]
    centre = centre + rng.uniform(-4.0, 4.0, 3) * np.array([1.0, 1.0, 0.5])
    sp = np.asarray(phys["spacing_mm"], float)
    size = np.array([matrix, matrix, slices])
    origin = centre - 0.5 * (size - 1) * sp
    return Grid((int(slices), int(matrix), int(matrix)), tuple(float(v) for v in origin), tuple(float(v) for v in sp))


def generate(seed: int, *, protocol: str = "mdct", pathologies=(), fov: str = "both", matrix: int = 512,
             slices: int = 160, dtype: str = "int16", anatomy: str = "classic", appearance: str = "classic"
             ) -> tuple[sitk.Image, sitk.Image, dict]:
    """A full temporal-bone CT of one head with both inner ears labelled.

    Parameters
    ----------
    seed : int
        Case seed; same seed and options give identical images and meta.
    protocol : {"mdct", "cbct"}
    pathologies : sequence of str
        Pathology names (:data:`.pathology.PATHOLOGIES`, optionally ``name:canal``), each applied to one
        ear chosen by the seed, or to a given ear with a suffix ``@left`` / ``@right``.
    fov : {"both", "left", "right"}
        Field of view covering both ears (0.3-0.45 mm pixels) or one ear (0.2-0.22 mm pixels).
    matrix, slices : int
        Image size (x = y = matrix, z = slices).
    dtype : {"int16", "float32"}
    anatomy, appearance : str
        As in :func:`generate_roi`.

    Returns
    -------
    ct : SimpleITK.Image
        HU, LPS, axial (identity direction).
    labels : SimpleITK.Image
        uint8 on the same grid: right ear 1-5, left ear 11-15.
    meta : dict
        ``ears`` (per ear: side, labyrinth_centre_lps_mm, structures_present, likert, pathologies,
        landmarks_lps_mm, anatomy parameters), ``protocol``, ``physics``, ``head``, ``tissue_hu``, ...
    """
    raw = _case_request(pathologies, fov)
    _check_common(protocol, tuple(str(p).partition("@")[0] for p in raw))
    if dtype not in ("int16", "float32"):
        raise ValueError(f"dtype must be 'int16' or 'float32', got {dtype!r}")
    if not (16 <= int(matrix) <= 1024 and 8 <= int(slices) <= 1024):
        raise ValueError(f"matrix must be 16-1024 and slices 8-1024, got matrix={matrix}, slices={slices}")
    check_appearance(appearance)
    scene, metas = _case_scene(seed, raw, fov, anatomy=check_anatomy(anatomy))
    randomised = appearance == "randomised"
    if randomised:
        rng_app = stream(seed, "appearance")
        scene = dataclasses.replace(scene, tissue_hu=draw_randomised_tissue_hu(rng_app))
        phys = draw_randomised_physics(rng_app, protocol)
    else:
        phys = draw_physics_params(stream(seed, "physics"), protocol, mode="full")
    if protocol == "mdct":
        rng_fov = stream(seed, "fov")
        inplane = rng_fov.uniform(0.3, 0.45) if fov == "both" else rng_fov.uniform(0.2, 0.22)
        phys["spacing_mm"] = [float(inplane), float(inplane), phys["spacing_mm"][2]]
    grid = _full_grid(scene, phys, fov, int(matrix), int(slices), stream(seed, "fov"))
    grid = _end_below_cut(grid, scene)
    hu, labels, blocks = render(grid, scene, head_blur_fwhm_mm=0.0 if randomised else phys["psf_fwhm_mm"])
    isocentre = np.asarray(grid.origin_lps_mm) + 0.5 * (np.array(grid.shape_zyx[::-1]) - 1) * np.asarray(
        grid.spacing_mm)
    distractors = {}
    if randomised:
        for ear in scene.ears:
            distractors[ear.side.value] = draw_distractors(stream(seed, "distractors", ear.side))
            paint_distractors(hu, labels, grid, distractors[ear.side.value], scene.tissue_hu, ear.rot, ear.shift)
        hu = apply_randomised_physics(hu, grid, phys, centre_world_mm=isocentre,
                                      rng=np.random.default_rng(phys["seed"]))
    else:
        hu = apply_physics(hu, grid, phys, isocentre_world_mm=isocentre, rng=np.random.default_rng(phys["seed"]),
                           blur_blocks=blocks)
    if dtype == "int16":
        hu = np.rint(hu).astype(np.int16)
    ct = grid.image(hu)
    labels_img = grid.image(labels)
    meta = {
        "mode": "full",
        "seed": int(seed),
        "protocol": protocol,
        "fov": fov,
        "physics": phys,
        "head": scene.head,
        "tissue_hu": scene.tissue_hu,
        "grid": {"shape_zyx": list(grid.shape_zyx), "origin_lps_mm": list(grid.origin_lps_mm),
                 "spacing_mm": list(grid.spacing_mm), "direction": list(grid.direction)},
        "ears": _ears_in_view(scene, metas, labels, grid),
        "pathologies_requested": [str(p) for p in raw],
    }
    _note_options(meta, anatomy, appearance, distractors)
    return ct, labels_img, meta


def _case_request(pathologies, fov: str) -> tuple:
    """The requested pathologies as a tuple (one string allowed), after checking the field of view."""
    if fov not in FOVS:
        raise ValueError(f"fov must be one of {FOVS}, got {fov!r}")
    return tuple([pathologies] if isinstance(pathologies, str) else (pathologies or ()))


def _case_scene(seed: int, pathologies: tuple, fov: str, *, anatomy: str = "classic"):
    """The head scene of :func:`generate`'s case `seed` (pathologies spread over the ears in view)."""
    fov_sides = [Side.RIGHT, Side.LEFT] if fov == "both" else [Side(fov)]
    per_ear = _assign_pathologies(seed, pathologies, fov_sides)
    return build_scene(seed, {s: tuple(per_ear.get(s, ())) for s in (Side.RIGHT, Side.LEFT)}, anatomy=anatomy)


def labels_on_grid(seed: int, reference: sitk.Image, *, pathologies=(), fov: str = "both",
                   anatomy: str = "classic") -> sitk.Image:
    """The exact two-ear labels of :func:`generate`'s case on any grid (e.g. a segmentation's own).

    Same seed, pathologies and fov as the call to :func:`generate`; labels are evaluated at the voxel
    centres of `reference` from the exact geometry, so a 0.3 mm segmentation can be scored at its own
    resolution without resampling either side. Right ear 1-5, left ear 11-15; uint8 on `reference`'s grid.
    No field-of-view cut is applied: mask what lies outside the scan yourself.
    """
    scene, _ = _case_scene(seed, _case_request(pathologies, fov), fov, anatomy=check_anatomy(anatomy))
    grid = Grid.of_image(reference)
    out = np.zeros(grid.shape_zyx, np.uint8)
    for ear in scene.ears:
        lab = rasterise_labels(grid, ear.labyrinth, ear.rot, ear.shift)
        np.copyto(out, (lab + ear.side.label_offset).astype(np.uint8), where=lab > 0)
    return grid.image(out)


def _end_below_cut(grid: Grid, scene) -> Grid:
    """For an incomplete scan, move the grid down so that it ends below the top of the superior canal."""
    cuts = [fov_cut_z_mm(e, e.labyrinth.params["fov_cut_fraction"]) for e in scene.ears
            if e.labyrinth.params.get("fov_cut_fraction")]
    cuts = [c for c in cuts if c is not None]
    if not cuts:
        return grid
    n_keep = int(np.floor((min(cuts) - grid.origin_lps_mm[2]) / grid.spacing_mm[2])) + 1
    shift = (grid.shape_zyx[0] - n_keep) * grid.spacing_mm[2]
    return Grid(grid.shape_zyx, (grid.origin_lps_mm[0], grid.origin_lps_mm[1], grid.origin_lps_mm[2] - shift),
                grid.spacing_mm)


def _ears_in_view(scene, metas, labels: np.ndarray, grid: Grid) -> list[dict]:
    """Sidecar entries of the ears whose labels are in the image; a superior canal above the top is incomplete."""
    z_top = grid.origin_lps_mm[2] + (grid.shape_zyx[0] - 0.5) * grid.spacing_mm[2]
    ears = []
    for ear, meta in zip(scene.ears, metas):
        if not np.any((labels >= 1 + ear.side.label_offset) & (labels <= 5 + ear.side.label_offset)):
            continue
        override = {}
        if ear.labyrinth.structures.get("superior") != "missing":
            top_z = ear.rot @ _superior_top(ear) + ear.shift
            if top_z[2] + 0.5 > z_top:
                override["superior"] = "incomplete"
        ears.append(ear_meta(ear, meta, status_override=override))
    return ears


def _superior_top(ear) -> np.ndarray:
    tube = next(t for t in ear.labyrinth.tubes if t.name == "superior canal")
    world_z = (tube.points_mm @ ear.rot.T)[:, 2]
    return tube.points_mm[int(np.argmax(world_z))]
