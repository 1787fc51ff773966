"""Cost per volume of the full-size MultiPlanarUNet (complexity factor 2, 6 views) on this machine.

The network is randomly initialised with the seed paper's size (62 M parameters); the CT is a
512 x 512 x 160 volume. Running the whole thing on a CPU takes hours, so this script times a few
slices (sampling + scaling + network) and extrapolates to the number of slices a volume needs:

- whole volume, as ``mpunet predict`` does (``dim + 20`` planes per view), and
- our pipeline's two ear boxes (only planes that cross a 28.8 mm box are computed).

``dim``/``real_space_span`` default to what mpunet's Auditor picks for such a CT (75th percentile
of the physical sizes, 25th percentile of the voxel sizes, dim in 128..512 divisible by 16).

    .venv/bin/python benchmarks/bench_mpunet.py --threads 2 --timed-slices 2
    .venv/bin/python benchmarks/bench_mpunet.py --dim 256 --span-mm 180
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import SimpleITK as sitk
import torch

from InnerEarSegLib.box import make_ear_box
from InnerEarSegLib.labels import Side
from InnerEarSegLib.mpunet.predictor import MPUNetParams, MPUNetPredictor
from InnerEarSegLib.mpunet.sampling import VolumeGeometry, nearest_plane_indices, sample_planes
from InnerEarSegLib.mpunet.unet2d import MPUNet2D, count_parameters, unet_layer_specs


def auditor_dim(size_xyz, spacing_mm, *, min_dim=128, max_dim=512) -> tuple[int, float]:
    """mpunet's ``Auditor.heurestic_sample_dim`` for one image: (dim, real_space_span_mm)."""
    span = float(np.percentile(np.asarray(size_xyz) * np.asarray(spacing_mm), 75))
    res = float(np.percentile(spacing_mm, 25))
    valid = np.array([i for i in range(min_dim, max_dim + 1) if (i * 0.5 ** 4).is_integer()])
    sample_dim = span / res
    dim = int(valid[np.abs(valid - sample_dim).argmin()])
    if dim < sample_dim * 0.90:
        span = max(int(span * 0.70), dim * res)
    return dim, span


def macs_per_slice(dim: int, *, complexity_factor: float = 2, n_classes: int = 2, depth: int = 4) -> float:
    """Multiply-accumulates of one ``dim x dim`` slice through the U-Net (convolutions only)."""
    total = 0.0
    for s in unet_layer_specs(n_classes=n_classes, complexity_factor=complexity_factor, depth=depth):
        if s.kind != "conv":
            continue
        if s.name.startswith("encoder_L"):
            level = int(s.name[len("encoder_L")])
        elif s.name.startswith("bottom"):
            level = depth
        elif s.name.startswith("upsample_L"):
            level = depth - 1 - int(s.name[len("upsample_L")])
        else:
            level = 0
        total += s.kernel_size ** 2 * s.in_channels * s.out_channels * (dim / 2 ** level) ** 2
    return total


def synthetic_ct(size_xyz=(512, 512, 160), spacing_mm=(0.35, 0.35, 0.6)) -> sitk.Image:
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 300, size_xyz[::-1]).astype(np.float32) - 500
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing(spacing_mm)
    return image


def planes_for_whole_volume(predictor: MPUNetPredictor, geom: VolumeGeometry) -> list[int]:
    """Planes per view that the volume's voxel centres map to (from the 8 corners: the hull is convex)."""
    n = np.asarray(geom.size_xyz) - 1
    corners = np.array([[x, y, z] for x in (0, n[0]) for y in (0, n[1]) for z in (0, n[2])], float)
    world = geom.origin_lps_mm + corners @ geom.matrix.T
    offsets = predictor.grid.offsets_mm
    counts = []
    for basis in predictor.bases:
        c = (world - geom.centre_lps_mm) @ np.linalg.inv(basis)[2]
        lo, hi = max(c.min(), offsets[0]), min(c.max(), offsets[-1])
        counts.append(int(np.sum((offsets >= lo - 1e-9) & (offsets <= hi + 1e-9))) + 1)
    return [min(k, len(offsets)) for k in counts]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, help="slice size (default: mpunet's Auditor choice for this CT)")
    ap.add_argument("--span-mm", type=float, help="real_space_span in mm (default: the Auditor's)")
    ap.add_argument("--spacing", type=float, nargs=3, default=(0.35, 0.35, 0.6), metavar=("X", "Y", "Z"),
                    help="CT voxel spacing in mm (default 0.35 0.35 0.6)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--timed-slices", type=int, default=2,
                    help="slices to time, one per batch; the last is used (default 2; 0 = only count slices)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    image = synthetic_ct(spacing_mm=tuple(args.spacing))
    geom = VolumeGeometry.of(image)
    dim, span = auditor_dim(geom.size_xyz, image.GetSpacing())
    dim, span = args.dim or dim, args.span_mm or span
    views = np.random.default_rng(1).normal(size=(6, 3))
    views[:, 2] = np.abs(views[:, 2])
    views /= np.linalg.norm(views, axis=1, keepdims=True)
    params = MPUNetParams(n_classes=2, dim=dim, real_space_span_mm=span, views_ras=tuple(map(tuple, views)),
                          complexity_factor=2.0)
    net = MPUNet2D(n_classes=2, complexity_factor=2.0)  # PyTorch's random initialisation
    predictor = MPUNetPredictor(net, params, fusion_weight=torch.ones(6, 2), fusion_bias=torch.zeros(2),
                                device=args.device, batch_size=1)

    whole = planes_for_whole_volume(predictor, geom)
    centre = geom.centre_lps_mm
    boxes = [make_ear_box(centre + np.array([dx, 10.0, 0.0]), side)
             for dx, side in ((-45.0, Side.RIGHT), (45.0, Side.LEFT))]
    box_planes = []
    for box in boxes:
        pts = torch.as_tensor(box.index_to_lps_mm(np.indices(box.spec.shape_zyx).reshape(3, -1).T))
        box_planes.append([len(predictor._needed_planes([(len(pts), lambda: pts)], box.centre_lps_mm, b))
                           for b in predictor.bases])

    volume, geom, scaling = predictor._volume(image)
    needed = np.arange(len(predictor.grid.offsets_mm))[len(predictor.grid.offsets_mm) // 2:][:args.timed_slices]
    times, cpu_times = [], []
    with torch.no_grad():
        for k in needed:
            t0, c0 = time.perf_counter(), time.process_time()
            x = sample_planes(volume, geom, centre_lps_mm=centre, basis_lps=predictor.bases[0], grid=predictor.grid,
                              plane_indices=[k], bg_value=scaling.bg_value)
            predictor.net(scaling.apply(x)[:, None])
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    # the first slice warms the kernels up: use the last one (0 timed slices: count slices only)
    per_slice = times[-1] if times else float("nan")
    cpu_per_slice = cpu_times[-1] if cpu_times else float("nan")

    # back-mapping of the whole volume: time one 2 M-point chunk of gathers, scale to all voxels x views
    n_vox = int(np.prod(geom.size_xyz))
    pts = torch.as_tensor(geom.origin_lps_mm + np.random.default_rng(2).uniform(0, 1, (1 << 21, 3))
                          * (np.asarray(geom.size_xyz) - 1) @ geom.matrix.T)
    fake = torch.rand(4, 2, dim, dim)
    t0 = time.perf_counter()
    iu, iv, ip, inside = nearest_plane_indices(pts, centre_lps_mm=centre, basis_lps=predictor.bases[0],
                                               grid=predictor.grid)
    _ = fake[ip.clamp(max=3)[inside], :, iu[inside], iv[inside]]
    map_s = (time.perf_counter() - t0) * n_vox / len(pts) * len(predictor.bases)

    result = {
        "device": args.device, "torch_threads": args.threads, "ct_size_xyz": list(geom.size_xyz),
        "ct_spacing_mm": list(image.GetSpacing()), "dim": dim, "real_space_span_mm": span,
        "complexity_factor": 2.0, "views": 6, "parameters": count_parameters(predictor.net),
        "gmac_per_slice": round(macs_per_slice(dim) / 1e9, 1),
        "timed_slice_s": [round(t, 2) for t in times], "s_per_slice": round(per_slice, 2),
        "cpu_s_per_slice": round(cpu_per_slice, 2), "load_average_1min": round(os.getloadavg()[0], 2),
        "slices_whole_volume": int(sum(whole)), "slices_mpunet_full_stack": 6 * len(predictor.grid.offsets_mm),
        "slices_two_ear_boxes": int(sum(map(sum, box_planes))),
        "est_whole_volume_h": round((sum(whole) * per_slice + map_s) / 3600, 2),
        "est_two_ear_boxes_h": round(sum(map(sum, box_planes)) * per_slice / 3600, 2),
        "est_backmapping_whole_volume_s": round(map_s, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:32s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
