"""Public entry points: :func:`generate_roi` (one ear's model box) and :func:`generate` (full head CT)."""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..box import BoxSpec, make_ear_box, resample_to_box
from ..labels import Side
from .case import build_scene, ear_meta, stream, to_world
from .pathology import parse_pathology
from .physics import PROTOCOLS, apply_physics, draw_physics_params
from .raster import Grid, rasterise_labels
from .render import render

ROI_MARGIN_MM = 1.5


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
                 centre_offset_mm=None) -> tuple[sitk.Image, sitk.Image, dict]:
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

    Returns
    -------
    ct_box, labels_box : SimpleITK.Image
    meta : dict
        ``labyrinth_centre_lps_mm``, ``structures_present``, ``likert``, ``landmarks_lps_mm``,
        ``protocol``, ``pathologies``, ``physics``, ``box`` ...
    """
    side = Side(side)
    pathologies = _check_common(protocol, pathologies)
    scene, metas = build_scene(seed, {side: pathologies})
    ear = scene.ears[0]
    centre = np.asarray(to_world(ear, ear.labyrinth.centre_mm))
    if centre_offset_mm is None:
        offset = stream(seed, "jitter", side).uniform(-3.0, 3.0, 3)
    else:
        offset = np.asarray(centre_offset_mm, float)
        if offset.shape != (3,) or not np.all(np.isfinite(offset)):
            raise ValueError(f"centre_offset_mm must be 3 finite numbers (mm) or None, got {centre_offset_mm!r}")
    box = make_ear_box(centre + offset, side, spec)
    phys = draw_physics_params(stream(seed, "physics"), protocol, mode="roi")
    frac = ear.labyrinth.params.get("fov_cut_fraction")
    z_cut = fov_cut_z_mm(ear, frac) if frac else None
    grid = _roi_grid(box, phys, stream(seed, "fov"), z_cut)
    hu, _ = render(grid, scene)
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
    return ct_box, labels_box, meta


def _cut_labels(labels: np.ndarray, box, z_cut: float) -> np.ndarray:
    """Zero the labels whose voxel centres lie above the scan's top (world z > z_cut)."""
    kz = np.arange(labels.shape[0])
    z_world = box.index_to_lps_mm(np.stack([kz, np.zeros_like(kz), np.zeros_like(kz)], axis=1))[:, 2]
    out = labels.copy()
    out[z_world > z_cut] = 0
    return out
