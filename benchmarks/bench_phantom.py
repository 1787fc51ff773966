"""Time the phantom generator and measure what it produced.

Timings (wall clock, this process, one core for the ROI mode):

- ROI sample: ``generate_roi(seed, side)`` for MDCT and CBCT, median over ``--roi-runs`` seeds;
- full CT: ``generate(seed)`` 512 x 512 x 160 two-ear MDCT, median over ``--full-runs`` seeds
  (plus writing the case files once).

Measurements on the labels (``InnerEarSegLib.phantom.measure``) over ``--measure`` normal ears:
labyrinth and structure volumes, cochlear turns, canal radii and inter-canal angles.

Usage::

    .venv/bin/python benchmarks/bench_phantom.py                  # 11 ROI runs, 3 full CTs, 24 ears
    .venv/bin/python benchmarks/bench_phantom.py --roi-runs 21 --full-runs 5 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import SimpleITK as sitk

from InnerEarSegLib.labels import CANALS, STRUCTURE_KEYS, Side, Structure
from InnerEarSegLib.phantom import generate, generate_roi, measure
from InnerEarSegLib.phantom.io import case_id, write_case


def _time(fn, *args, **kw) -> float:
    t = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t


def _summary(values) -> dict:
    v = np.asarray(values, float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}


def bench_roi(runs: int, protocol: str) -> dict:
    generate_roi(999, Side.LEFT, protocol=protocol)  # warm-up (imports, caches)
    times = [_time(generate_roi, 100 + k, Side.LEFT if k % 2 else Side.RIGHT, protocol=protocol) for k in range(runs)]
    return _summary(times)


def bench_full(runs: int) -> dict:
    times = [_time(generate, 200 + k) for k in range(runs)]
    ct, lab, meta = generate(200)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_case(ct, lab, meta, tmp, case_id(200))
        write_s = time.perf_counter() - t
    out = _summary(times)
    out["write_s"] = write_s
    out["size"] = list(ct.GetSize())
    return out


def measure_ears(n: int) -> dict:
    sp = (0.3, 0.3, 0.3)
    volume_keys = ("labyrinth", *STRUCTURE_KEYS)
    rows = {k: [] for k in (*volume_keys, "turns", *(f"r_{c.key}" for c in CANALS), "angle", "loops_ok")}
    for k in range(n):
        side = Side.LEFT if k % 2 else Side.RIGHT
        _, lab, _ = generate_roi(300 + k, side)
        lab = sitk.GetArrayFromImage(lab)
        vol = measure.volumes_mm3(lab, sp)
        for key in volume_keys:
            rows[key].append(vol[key])
        rows["turns"].append(measure.cochlear_turns(lab, sp))
        normals = {}
        for st in (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL):
            normals[st], radius, _ = measure.fit_canal(lab, st, sp)
            rows[f"r_{st.key}"].append(radius)
        keys = list(normals)
        rows["angle"] += [measure.plane_angle_deg(normals[a], normals[b]) for i, a in enumerate(keys)
                          for b in keys[i + 1:]]
        rows["loops_ok"].append(float(all(v >= 1 for v in measure.canal_loops(lab).values())))
    return {k: _summary(v) for k, v in rows.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--roi-runs", type=int, default=11)
    p.add_argument("--full-runs", type=int, default=3)
    p.add_argument("--measure", type=int, default=24, help="normal ears to measure")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result = {"cpu_count": os.cpu_count()}
    result["roi_mdct_s"] = bench_roi(args.roi_runs, "mdct")
    result["roi_cbct_s"] = bench_roi(args.roi_runs, "cbct")
    result["full_512x512x160_s"] = bench_full(args.full_runs)
    result["measured"] = measure_ears(args.measure)
    for key in ("roi_mdct_s", "roi_cbct_s", "full_512x512x160_s"):
        r = result[key]
        print(f"{key:22s} median {r['median']:.2f} s  (min {r['min']:.2f}, max {r['max']:.2f}, n={r['n']})")
    print(f"{'write case files':22s} {result['full_512x512x160_s']['write_s']:.2f} s")
    for key, r in result["measured"].items():
        print(f"{key:12s} mean {r['mean']:7.2f}  sd {r['sd']:6.2f}  range {r['min']:7.2f} .. {r['max']:7.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
