"""Measure the automatic inner-ear locator on phantom CTs: found, side right, centre error, time.

Each case is a full phantom CT (``InnerEarSegLib.phantom.generate``: MDCT or cone-beam, both ears or
one ear in the field of view, random head pose up to +-15 deg, some pathologies), then stored or
posed in one of several ways the locator must not care about: as generated (axial), with the
array axes flipped (stored as RAS), as coronal slices (axes permuted), on an oblique grid, or with
the head rotated further (up to 20 deg). The truth is the phantom's ``labyrinth_centre_lps_mm``
(moved with the head where the head is rotated).

Usage::

    .venv/bin/python benchmarks/bench_locate.py                 # 24 cases, seeds 1000-1023
    .venv/bin/python benchmarks/bench_locate.py --cases 8 --json out.json
    .venv/bin/python benchmarks/bench_locate.py --timing        # also: 512 x 512 x 160 CT, median of 5

Prints one line per case and a summary (found, side right, centre error median/max in mm,
locate time median/max in s). A detection more than 10 mm from the truth counts as not found
(it is another structure). Exit code 1 when any ear is missed or on the wrong side.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import SimpleITK as sitk

from InnerEarSegLib.locate import locate_ears
from InnerEarSegLib.phantom.generate import generate

VARIANTS = ("axial", "flipped", "coronal", "oblique", "rotated20", "cbct", "one-ear", "one-ear-cbct")
MISLOCATED_MM = 10.0
PATHOLOGY_CYCLE = ((), ("otosclerosis",), (), ("incomplete_partition",), (), ("implant",), (), ("missing_canal",))


def _grid_covering(image: sitk.Image, rotation: np.ndarray) -> sitk.Image:
    """An empty grid with direction `rotation` and the image's spacing that covers all of `image`."""
    size = np.asarray(image.GetSize())
    spacing = np.asarray(image.GetSpacing())
    corners = np.array([image.TransformContinuousIndexToPhysicalPoint([float(v) for v in c])
                        for c in np.ndindex(2, 2, 2) for c in [np.asarray(c) * (size - 1)]])
    local = corners @ rotation  # coordinates along the new axes
    low, high = local.min(axis=0), local.max(axis=0)
    n = np.ceil((high - low) / spacing).astype(int) + 1
    ref = sitk.Image([int(v) for v in n], image.GetPixelID())
    ref.SetSpacing(tuple(spacing))
    ref.SetDirection(tuple(rotation.ravel()))
    ref.SetOrigin(tuple(rotation @ low))
    return ref


def _world_preserving_oblique(image: sitk.Image, angle_deg: float, axis=(0.3, 1.0, 0.4)) -> sitk.Image:
    """The same anatomy resampled onto a grid whose axes are rotated by `angle_deg` (world unchanged)."""
    rot = np.asarray(sitk.VersorTransform(tuple(axis), np.radians(angle_deg)).GetMatrix()).reshape(3, 3)
    return sitk.Resample(image, _grid_covering(image, rot), sitk.Transform(), sitk.sitkLinear, -1000.0)


def _rotate_head(image: sitk.Image, truth: dict, rotation: np.ndarray) -> tuple[sitk.Image, dict]:
    """Rotate the content by `rotation` about the midpoint of the ears (world changes); move the truth too."""
    centre = np.mean(list(truth.values()), axis=0)
    transform = sitk.AffineTransform(3)  # maps output points to input points: the inverse rotation
    transform.SetMatrix(tuple(rotation.T.ravel()))
    transform.SetCenter(tuple(centre))
    rotated = sitk.Resample(image, image, transform, sitk.sitkLinear, -1000.0)
    return rotated, {side: rotation @ (c - centre) + centre for side, c in truth.items()}


def _euler_xyz_deg(angles_deg) -> np.ndarray:
    """Rz @ Ry @ Rx, as the phantom composes its head pose."""
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def make_case(seed: int, variant: str, pathologies=()) -> tuple[sitk.Image, dict, str]:
    """A phantom CT for `variant`, its truth {side: centre LPS mm}, and a description."""
    rng = np.random.default_rng(seed)
    fov, protocol, matrix, slices = "both", "mdct", 320, 72 if variant != "rotated20" else 110
    if variant == "cbct":
        protocol, matrix, slices = "cbct", 448, 96
    elif variant in ("one-ear", "one-ear-cbct"):
        fov = ("left", "right")[(seed // 8 + seed) % 2]
        protocol = "cbct" if variant == "one-ear-cbct" else "mdct"
        matrix, slices = 256, 96
    if fov == "both" and "incomplete_fov" in pathologies:
        pathologies = ()
    ct, _, meta = generate(seed, protocol=protocol, pathologies=pathologies, fov=fov, matrix=matrix, slices=slices)
    truth = {e["side"]: np.asarray(e["labyrinth_centre_lps_mm"]) for e in meta["ears"]}
    desc = f"{protocol} fov={fov} {matrix}x{matrix}x{slices} sp={tuple(round(s, 2) for s in ct.GetSpacing())}"
    if variant == "flipped" or (variant == "one-ear-cbct" and seed % 3 == 0):
        ct = sitk.Flip(ct, [True, True, False])
        desc += " flipped-xy"
    elif variant == "coronal":
        ct = sitk.PermuteAxes(ct, [0, 2, 1])
        desc += " coronal"
    elif variant == "oblique":
        angle = float(rng.uniform(15, 30))
        ct = _world_preserving_oblique(ct, angle)
        desc += f" oblique-grid {angle:.0f}deg"
    elif variant == "rotated20":
        # final head pose: +-20 deg about one axis, +-(5-20) deg about the others (the phantom's own
        # pose, up to +-15 deg, is replaced, not added to)
        target = rng.choice([-1, 1], 3) * rng.uniform(5, 20, 3)
        target[int(rng.integers(0, 3))] = 20.0 * rng.choice([-1, 1])
        pose = _euler_xyz_deg(meta["head"]["pose_deg"])
        ct, truth = _rotate_head(ct, truth, _euler_xyz_deg(target) @ pose.T)
        desc += f" head pose {tuple(int(round(a)) for a in target)} deg (was {tuple(int(round(a)) for a in meta['head']['pose_deg'])})"
    if pathologies:
        desc += f" path={','.join(pathologies)}"
    return ct, truth, desc


def evaluate(ct: sitk.Image, truth: dict) -> dict:
    t0 = time.perf_counter()
    try:
        locations = locate_ears(ct)
        error = None
    except Exception as exc:  # a miss is a result here, not a crash
        locations, error = [], f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - t0
    found = {loc.side.value: loc for loc in locations}
    ears = []
    for side, centre in truth.items():
        loc = found.get(side)
        signed = None if loc is None else (np.asarray(loc.centre_lps_mm) - centre) * (1.0 if side == "left" else -1.0, 1, 1)
        mislocated = signed is not None and float(np.linalg.norm(signed)) > MISLOCATED_MM
        if mislocated:  # a detection this far off is another structure (or the other ear): not found
            loc, signed = None, None
        ears.append({"side": side, "found": loc is not None, "mislocated": mislocated,
                     "error_mm": None if loc is None else float(np.linalg.norm(signed)),
                     "error_lateral_posterior_superior_mm": None if signed is None else [float(v) for v in signed],
                     "confidence": None if loc is None else loc.confidence})
    extra = [s for s in found if s not in truth]
    return {"ears": ears, "extra_sides": extra, "n_found": len(locations), "time_s": elapsed, "error": error}


def timing_512(repeats: int = 5) -> dict:
    """Median locate time on a 512 x 512 x 160 two-ear MDCT."""
    ct, _, _ = generate(7, protocol="mdct", fov="both", matrix=512, slices=160)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        locate_ears(ct)
        times.append(time.perf_counter() - t0)
    return {"size": list(ct.GetSize()), "spacing_mm": list(ct.GetSpacing()), "times_s": times,
            "median_s": float(np.median(times))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=24, help="number of cases (default 24)")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--json", help="write per-case results to this JSON file")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS,
                        help="cycle through these variants only (default: all)")
    parser.add_argument("--no-pathologies", action="store_true", help="normal ears only")
    parser.add_argument("--timing", action="store_true", help="also time a 512 x 512 x 160 CT (median of 5)")
    args = parser.parse_args(argv)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    rows = []
    for i in range(args.cases):
        seed = args.first_seed + i
        variant = args.variants[i % len(args.variants)]
        pathologies = () if args.no_pathologies else PATHOLOGY_CYCLE[(i // len(VARIANTS) + i) % len(PATHOLOGY_CYCLE)]
        ct, truth, desc = make_case(seed, variant, pathologies)
        result = evaluate(ct, truth)
        result.update({"seed": seed, "variant": variant, "description": desc})
        rows.append(result)
        ears = " ".join(f"{e['side']}:{'%.2fmm' % e['error_mm'] if e['found'] else ('WRONG' if e['mislocated'] else 'MISSED')}"
                        for e in result["ears"])
        extra = f" extra={result['extra_sides']}" if result["extra_sides"] else ""
        print(f"seed {seed} {variant:13s} {ears:32s}{extra} {result['time_s']:.2f}s  {desc}"
              + (f"  [{result['error']}]" if result["error"] else ""), flush=True)
    ears = [e for r in rows for e in r["ears"]]
    errors = np.array([e["error_mm"] for e in ears if e["found"]])
    times = np.array([r["time_s"] for r in rows])
    n_found = sum(e["found"] for e in ears)
    n_extra = sum(len(r["extra_sides"]) for r in rows)
    n_mislocated = sum(e["mislocated"] for e in ears)
    summary = {
        "cases": len(rows), "ears": len(ears), "found": n_found, "wrong_or_extra_side": n_extra,
        "mislocated_over_10mm": n_mislocated,
        "error_mm_median": float(np.median(errors)) if errors.size else None,
        "error_mm_max": float(errors.max()) if errors.size else None,
        "within_2mm": int((errors <= 2.0).sum()),
        "time_s_median": float(np.median(times)), "time_s_max": float(times.max()),
    }
    signed = np.array([e["error_lateral_posterior_superior_mm"] for e in ears if e["found"]])
    summary["mean_signed_error_lateral_posterior_superior_mm"] = [float(v) for v in signed.mean(axis=0)]
    print(f"\nears found with the right side: {n_found}/{len(ears)} (extra/wrong-side detections: {n_extra}; "
          f"detections more than {MISLOCATED_MM:g} mm off, counted as not found: {n_mislocated}); "
          f"centre error median {summary['error_mm_median']:.2f} mm, max {summary['error_mm_max']:.2f} mm, "
          f"{summary['within_2mm']}/{errors.size} within 2 mm; locate time median {summary['time_s_median']:.2f} s, "
          f"max {summary['time_s_max']:.2f} s (matrices as listed; 2 threads)\nmean signed error (lateral, posterior, "
          f"superior): {tuple(round(v, 2) for v in summary['mean_signed_error_lateral_posterior_superior_mm'])} mm")
    if args.timing:
        summary["timing_512x512x160"] = timing_512()
        t = summary["timing_512x512x160"]
        print(f"512 x 512 x 160 MDCT (spacing {tuple(round(s, 2) for s in t['spacing_mm'])} mm): locate median "
              f"{t['median_s']:.2f} s over {len(t['times_s'])} runs ({', '.join(f'{v:.2f}' for v in t['times_s'])})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": summary, "cases": rows}, fh, indent=1)
    return 0 if n_found == len(ears) and n_extra == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
