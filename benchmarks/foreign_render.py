"""A CT renderer deliberately unlike the project's phantom physics, for labyrinth label maps.

The bundled model was trained on :mod:`InnerEarSegLib.phantom` renderings (fixed tissue HU tables,
Gaussian PSF, image-domain correlated noise). This module renders the same five-structure label
maps the way that training never saw, to measure what the model learned about *shape*:

* **tissue model** -- bone density as a smooth random field (filtered noise, 1-3 mm grain) times a
  per-scan level, dense otic capsule as a shell at a random 1.2-2.4 mm distance from the labyrinth,
  mastoid air cells as a thresholded band-pass noise field, fluid and soft tissue at random levels;
  distractors of canal calibre and larger (internal auditory canal, external auditory canal, a
  fluid tube through the petrous bone);
* **MDCT** (0.35-0.5 mm in plane, 0.5-1.0 mm slices) -- an edge-enhancing "bone kernel"
  (unsharp-masked Gaussian with overshoot), a box slice profile, and **Poisson noise in the
  projection domain**: each axial slice is forward projected (``skimage.transform.radon``), photon
  counts drawn, and the noise reconstructed by filtered back projection (``iradon``) -- streaky,
  anisotropic noise that grows behind dense bone;
* **cone-beam** (0.2-0.3 mm isotropic, one ear) -- nonlinear bone compression, low-frequency scatter
  (a blurred copy of the object subtracted), radial cupping, ring artefacts, and the same projection
  noise at lower dose.

The label map comes from a callable ``labels_on(grid, pose) -> uint8 (z, y, x)`` (one ear's labels
1-5 placed at `pose`), e.g. :func:`real_labels_fn` over the real surfaces of ``real_labyrinths.py``;
it is evaluated on a twice finer grid around each ear for partial volume.

    .venv/bin/python benchmarks/foreign_render.py /work/main/.work/real/labyrinths --subject 1 -o /tmp/f.nrrd
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from InnerEarSegLib.labels import Side
from InnerEarSegLib.phantom.physics import centred_box_filter
from InnerEarSegLib.phantom.raster import Grid

STYLES = ("mdct", "cbct")
LabelsOn = Callable[[Grid, "EarPose"], np.ndarray]  # per-ear labels 0-5 of one ear on a grid


@dataclass(frozen=True)
class EarPose:
    """One ear in the world: ``world = rot @ p_ear + shift`` (ear frame: x lateral, y posterior, z up)."""

    side: Side
    rot: np.ndarray
    shift: np.ndarray


def head_poses(rng: np.random.Generator, centre_lps_mm=(0.0, 0.0, 0.0)) -> tuple[dict, tuple[EarPose, EarPose]]:
    """A head (ellipsoid semi-axes, mm) and both ears' poses, drawn independently of the phantom's."""
    semi = np.array([rng.uniform(68, 80), rng.uniform(85, 100), rng.uniform(78, 92)])
    centre = np.asarray(centre_lps_mm, float)
    poses = []
    for side, sgn in ((Side.RIGHT, -1.0), (Side.LEFT, 1.0)):
        a = np.radians(rng.uniform(-6, 6, 3))
        rx = np.array([[1, 0, 0], [0, np.cos(a[0]), -np.sin(a[0])], [0, np.sin(a[0]), np.cos(a[0])]])
        ry = np.array([[np.cos(a[1]), 0, np.sin(a[1])], [0, 1, 0], [-np.sin(a[1]), 0, np.cos(a[1])]])
        rz = np.array([[np.cos(a[2]), -np.sin(a[2]), 0], [np.sin(a[2]), np.cos(a[2]), 0], [0, 0, 1]])
        rot = np.diag([sgn, 1.0, 1.0]) @ rz @ ry @ rx
        shift = centre + np.array([sgn * rng.uniform(30.0, 35.0), rng.uniform(-3, 3), rng.uniform(-3, 3)])
        poses.append(EarPose(side, rot, shift))
    return {"semi_mm": semi.tolist(), "centre_lps_mm": centre.tolist()}, tuple(poses)


def acquisition_grid(style: str, poses, rng: np.random.Generator, *, head_semi_mm) -> Grid:
    """MDCT: the whole head in plane, 40 mm of slices; cone-beam: a 64 x 64 x 40 mm field on one ear."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if style == "mdct":
        inplane, slice_mm = rng.uniform(0.35, 0.5), rng.uniform(0.5, 1.0)
        sp = np.array([inplane, inplane, slice_mm])
        centre = 0.5 * (poses[0].shift + poses[1].shift)
        extent = np.array([2 * head_semi_mm[0] + 10, 2 * head_semi_mm[1] + 10, 40.0])
    else:
        sp = np.full(3, rng.uniform(0.2, 0.3))
        ear = poses[int(rng.integers(0, 2))]
        lateral = np.sign(ear.rot[0, 0])
        centre = ear.shift + np.array([lateral * 14.0, 0.0, 0.0])  # the field reaches the skin laterally
        extent = np.array([64.0, 64.0, 40.0])
    size = np.ceil(extent / sp).astype(int)
    origin = centre - 0.5 * (size - 1) * sp
    return Grid((int(size[2]), int(size[1]), int(size[0])), tuple(float(v) for v in origin),
                tuple(float(v) for v in sp))


def _world_coords(grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nz, ny, nx = grid.shape_zyx
    o, s = grid.origin_lps_mm, grid.spacing_mm
    return (np.float32(o[0] + s[0] * np.arange(nx))[None, None, :],
            np.float32(o[1] + s[1] * np.arange(ny))[None, :, None],
            np.float32(o[2] + s[2] * np.arange(nz))[:, None, None])


def _noise_field(shape, grain_vox, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD smooth random field (white noise filtered by a Gaussian of `grain_vox` voxels)."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), grain_vox)
    return f / max(float(f.std()), 1e-6)


def _ellipsoid_depth(p_ear: np.ndarray, centre, semi) -> np.ndarray:
    """Approximate depth (mm, positive inside) below an axis-aligned ellipsoid's surface in the ear frame."""
    q = np.sqrt(sum(((p_ear[..., i] - centre[i]) / semi[i]) ** 2 for i in range(3)))
    return (1.0 - q) * float(np.min(semi))


def _tube_depth(p_ear: np.ndarray, start, direction, length_mm, radius_mm) -> np.ndarray:
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    rel = p_ear - np.asarray(start, float)
    t = np.clip(rel @ d, 0.0, length_mm)
    return radius_mm - np.linalg.norm(rel - t[..., None] * d, axis=-1)


def _fluid_fraction(labels_on: LabelsOn, grid: Grid, pose: EarPose, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels on `grid` and their partial-volume fluid fraction from a `factor`-times finer grid."""
    labels = labels_on(grid, pose)
    if factor == 1:
        return labels, (labels > 0).astype(np.float32)
    sp = np.asarray(grid.spacing_mm) / factor
    origin = np.asarray(grid.origin_lps_mm) - 0.5 * (factor - 1) * sp
    fine = Grid(tuple(n * factor for n in grid.shape_zyx), tuple(float(v) for v in origin), tuple(sp), grid.direction)
    inside = (labels_on(fine, pose) > 0).astype(np.float32)
    nz, ny, nx = grid.shape_zyx
    frac = inside.reshape(nz, factor, ny, factor, nx, factor).mean(axis=(1, 3, 5))
    return labels, frac


def paint_object(grid: Grid, labels_on: LabelsOn, head: dict, poses, rng: np.random.Generator, *,
                 supersample: int = 2) -> tuple[np.ndarray, np.ndarray, dict]:
    """Noise-free HU object, labels on `grid` and the drawn tissue levels (the foreign tissue model)."""
    lv = {"air": -1000.0, "soft": rng.uniform(20, 70), "brain": rng.uniform(20, 45), "fluid": rng.uniform(-5, 45),
          "skull": rng.uniform(1100, 1700), "petrous": rng.uniform(800, 1400), "capsule": rng.uniform(1600, 2400),
          "capsule_mm": rng.uniform(1.2, 2.4), "texture": rng.uniform(120, 320)}
    x, y, z = _world_coords(grid)
    c, semi = np.asarray(head["centre_lps_mm"]), np.asarray(head["semi_mm"])
    q = np.sqrt(((x - c[0]) / semi[0]) ** 2 + ((y - c[1]) / semi[1]) ** 2 + ((z - c[2]) / semi[2]) ** 2)
    depth = (1.0 - q) * float(semi.min())
    w = float(np.mean(grid.spacing_mm))
    ramp = lambda d: np.clip(d / w + 0.5, 0.0, 1.0).astype(np.float32)  # noqa: E731
    texture = _noise_field(grid.shape_zyx, 1.5 / np.asarray(grid.spacing_mm[::-1]), rng)
    hu = np.full(grid.shape_zyx, lv["air"], np.float32)
    hu += ramp(depth) * (lv["soft"] - hu)
    hu += ramp(depth - 4.0) * (lv["skull"] + 0.5 * lv["texture"] * texture - hu)
    hu += ramp(depth - 10.0) * (lv["brain"] - hu)
    labels = np.zeros(grid.shape_zyx, np.uint8)
    for pose in poses:
        _paint_ear(hu, labels, grid, labels_on, pose, lv, texture, rng, supersample, ramp)
    return hu, labels, lv


def _ear_block(grid: Grid, pose: EarPose, half_mm: float = 24.0):
    m, b = grid.ear_to_index(pose.rot, pose.shift)
    corners = np.array([[a, bb, cc] for a in (-half_mm, half_mm) for bb in (-half_mm, half_mm)
                        for cc in (-half_mm, half_mm)]) @ m.T + b
    lo = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)[::-1]
    hi = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, np.array(grid.shape_zyx[::-1]))[::-1]
    return None if np.any(hi <= lo) else (tuple(lo), tuple(hi))


def _paint_ear(hu, labels, grid, labels_on, pose, lv, texture, rng, supersample, ramp) -> None:
    block = _ear_block(grid, pose)
    if block is None:
        return
    sl = tuple(slice(lo, hi) for lo, hi in zip(*block))
    sub = grid.sub_grid(*block)
    x, y, z = _world_coords(sub)
    world = np.stack(np.broadcast_arrays(x, y, z), axis=-1)
    p = (world - pose.shift) @ pose.rot  # ear frame (rot is orthogonal: inverse = transpose)
    out, tex = hu[sl], texture[sl]
    petrous = _ellipsoid_depth(p @ _rotz(-40.0).T, (-9.0, 0.0, -1.0), (20.0, 8.0, 9.0))
    mastoid = _ellipsoid_depth(p, (9.0, 10.0, -6.0), (9.0, 11.0, 11.0))
    out += ramp(petrous) * (lv["petrous"] + lv["texture"] * tex - out)
    cells = _noise_field(out.shape, 1.2 / np.asarray(grid.spacing_mm[::-1]), rng) > rng.uniform(0.0, 0.6)
    out += ramp(mastoid) * (np.where(cells, lv["air"], lv["petrous"] * 0.7 + lv["texture"] * tex) - out)
    for start, direction, length, radius, tissue in (
            ((-3.0, -1.0, 0.0), (-1.0, 0.1, 0.0), 14.0, rng.uniform(1.8, 2.6), "fluid"),   # internal auditory canal
            ((9.0, -1.0, -6.0), (1.0, 0.0, -0.15), 20.0, rng.uniform(3.0, 4.0), "air"),    # external auditory canal
            ((-6.0, -4.0, -5.0), (-0.6, -0.8, 0.1), 16.0, rng.uniform(0.4, 0.8), "fluid")):  # a canal-calibre vessel
        out += ramp(_tube_depth(p, start, direction, length, radius)) * (lv[tissue] - out)
    lab, frac = _fluid_fraction(labels_on, sub, pose, supersample)
    dist_mm = ndimage.distance_transform_edt(frac < 0.5, sampling=grid.spacing_mm[::-1])
    out += ramp(lv["capsule_mm"] - dist_mm) * (lv["capsule"] + 0.4 * lv["texture"] * tex - out)
    out += frac * (lv["fluid"] - out)
    np.copyto(labels[sl], (lab + pose.side.label_offset).astype(np.uint8), where=lab > 0)


def _rotz(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def bone_kernel(hu: np.ndarray, spacing_mm, rng: np.random.Generator, *, style: str) -> np.ndarray:
    """Edge-enhancing reconstruction kernel (overshoot) and a box slice profile along z."""
    sp = np.asarray(spacing_mm, float)[::-1]  # z, y, x
    fwhm = rng.uniform(0.35, 0.6)
    sharp = ndimage.gaussian_filter(hu, fwhm / 2.355 / sp)
    wide = ndimage.gaussian_filter(sharp, 2.0 * fwhm / 2.355 / sp)
    out = sharp + rng.uniform(0.3, 0.8) * (sharp - wide)
    if style == "mdct":
        # Box slice profile two slices wide, centred on the slice (until 2026-12-03 uniform_filter1d(size=2),
        # which moved the image half a slice along z off its labels: 0.25-0.5 mm, most of a lateral canal's height).
        out = centred_box_filter(out, (2, 1, 1))
    return out.astype(np.float32)


def projection_noise(hu: np.ndarray, spacing_mm, rng: np.random.Generator, *, photons: float,
                     n_angles: int = 90) -> np.ndarray:
    """Noise reconstructed from Poisson counts of each axial slice's sinogram (HU, same shape).

    Each slice is projected at half resolution (attenuation of water 0.019 / mm), counts
    ``Poisson(photons * exp(-p))`` drawn, and the log-count error back projected (Hann-filtered FBP).
    """
    from skimage.transform import iradon, radon

    mu_water = 0.019
    step = 2.0 * float(spacing_mm[0])
    theta = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    out = np.zeros_like(hu)
    for k in range(hu.shape[0]):
        small = ndimage.zoom(hu[k], 0.5, order=1)
        n = max(small.shape)
        pad = np.full((n, n), -1000.0, np.float32)
        pad[:small.shape[0], :small.shape[1]] = small
        mu = np.clip(mu_water * (1.0 + pad / 1000.0), 0.0, None) * step
        sino = radon(mu, theta, circle=False)
        counts = rng.poisson(photons * np.exp(-np.minimum(sino, 30.0))).astype(float)
        err = -np.log(np.maximum(counts, 1.0) / photons) - sino
        noise = iradon(err, theta, circle=False, filter_name="hann", output_size=n)
        noise_hu = noise / step / mu_water * 1000.0
        back = noise_hu[:small.shape[0], :small.shape[1]]
        out[k] = ndimage.zoom(back, (hu.shape[1] / back.shape[0], hu.shape[2] / back.shape[1]), order=1,
                              grid_mode=True, mode="nearest")
    return out


def cone_beam_artefacts(hu: np.ndarray, grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """Bone compression, scatter (blurred object subtracted), radial cupping and ring artefacts."""
    bone = hu > 300
    hu = hu.copy()
    hu[bone] = 300 + 900 * np.log1p((hu[bone] - 300) / 900) * rng.uniform(0.8, 1.2)
    sp = np.asarray(grid.spacing_mm)[::-1]
    hu -= rng.uniform(0.05, 0.15) * (ndimage.gaussian_filter(hu + 1000, 8.0 / sp) - 1000)
    x, y, _ = _world_coords(grid)
    cx, cy = np.mean(x), np.mean(y)
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    hu += (-rng.uniform(80, 250) * np.clip(1 - (r / r.max()) ** 2, 0, 1)).astype(np.float32)
    rings = np.sin(r * rng.uniform(1.5, 3.0)) * rng.uniform(10, 40) * (rng.random(r.shape) < 2.0)
    return (hu + rings).astype(np.float32)


def render_foreign(labels_on: LabelsOn, style: str, seed: int, *, head_centre_lps_mm=(0.0, 0.0, 0.0),
                   supersample: int | None = None) -> tuple[sitk.Image, sitk.Image, dict]:
    """A CT (int16 HU) and its labels (uint8 two-ear values) from a label-map callable, in `style`.

    Returns the CT, the labels on its grid, and meta: ``poses`` ({side: (rot, shift)}), ``head``,
    ``tissue_hu``, ``spacing_mm``, ``style``, ``ears_in_view``.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    rng = np.random.default_rng([int(seed), 13])
    head, poses = head_poses(rng, head_centre_lps_mm)
    grid = acquisition_grid(style, poses, rng, head_semi_mm=head["semi_mm"])
    factor = supersample if supersample is not None else (2 if style == "mdct" else 1)
    hu, labels, lv = paint_object(grid, labels_on, head, poses, rng, supersample=factor)
    hu = bone_kernel(hu, grid.spacing_mm, rng, style=style)
    if style == "cbct":
        hu = cone_beam_artefacts(hu, grid, rng)
    hu += projection_noise(hu, grid.spacing_mm, rng, photons=rng.uniform(2e4, 2e5) if style == "mdct"
                           else rng.uniform(5e3, 3e4))
    ct = grid.image(np.clip(np.rint(hu), -1024, 3071).astype(np.int16))
    in_view = [p.side.value for p in poses
               if np.any((labels > p.side.label_offset) & (labels <= p.side.label_offset + 5))]
    meta = {"style": style, "seed": int(seed), "head": head, "tissue_hu": lv, "spacing_mm": list(grid.spacing_mm),
            "poses": {p.side.value: (p.rot, p.shift) for p in poses}, "ears_in_view": in_view}
    return ct, grid.image(labels), meta


def turned(labels_on: LabelsOn, ear_turns: dict) -> LabelsOn:
    """`labels_on` with each side's labyrinth turned about its ear's origin by ``ear_turns[side]`` (ear frame).

    The bone this renderer paints stays where the pose puts it (its ear canal lateral, its internal auditory
    canal medial): a real labyrinth is turned as it lay in its scanner (``RealLabyrinth.scanner_turn``)
    inside a head-aligned temporal bone, as in the phantom's own heads.
    """
    def labels_turned(grid: Grid, pose: EarPose) -> np.ndarray:
        return labels_on(grid, EarPose(pose.side, pose.rot @ ear_turns.get(pose.side, np.eye(3)), pose.shift))

    return labels_turned


def real_labels_fn(labyrinths: dict[Side, object]) -> LabelsOn:
    """``labels_on(grid, pose)`` of real labyrinths (a ``real_labyrinths.RealLabyrinth`` per side)."""
    from real_labyrinths import voxelise

    def labels_on(grid: Grid, pose: EarPose) -> np.ndarray:
        if pose.side not in labyrinths:
            return np.zeros(grid.shape_zyx, np.uint8)
        return voxelise(labyrinths[pose.side], grid, pose.rot, pose.shift)

    return labels_on


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="real labyrinth folder (real_labyrinths.py)")
    ap.add_argument("--subject", type=int, default=1)
    ap.add_argument("--style", choices=STYLES, default="mdct")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", type=Path, required=True, help="CT file to write (labels beside it)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from real_labyrinths import RealDataMissing, load_subject

    try:
        lab = load_subject(args.folder, args.subject)
    except RealDataMissing as err:
        print(f"skipped: {err}")
        return 0
    turn = lab.scanner_turn()  # as it lay in its own scanner
    ct, labels, meta = render_foreign(turned(real_labels_fn({Side.RIGHT: lab, Side.LEFT: lab}),
                                             {Side.RIGHT: turn, Side.LEFT: turn}), args.style, args.seed)
    sitk.WriteImage(ct, str(args.out), True)
    sitk.WriteImage(labels, str(args.out.with_name("labels_" + args.out.name)), True)
    print(f"wrote {args.out} ({meta['style']}, spacing {meta['spacing_mm']}, ears {meta['ears_in_view']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
