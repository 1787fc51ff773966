"""``innerear-seg bench CT``: time each stage of the pipeline and the peak memory, median of N runs."""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from .segment import add_model_arguments


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="time each stage and measure peak memory",
                              description="Run the whole segmentation N times in this process and print the "
                                          "median time of each stage (model loading included in every run) and "
                                          "the peak resident memory.")
    p.add_argument("input", type=Path, nargs="?", help="CT file (omit with --generate-phantom)")
    p.add_argument("--generate-phantom", action="store_true",
                   help="benchmark on a freshly generated 512x512x160 two-ear phantom (seed 7)")
    p.add_argument("--repeat", type=int, default=5, metavar="N", help="number of runs (median reported)")
    p.add_argument("--write", action="store_true", help="also write all outputs (to a temporary folder)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_model_arguments(p)
    p.set_defaults(func=run)
    return p


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(args) -> int:
    import tempfile
    import time

    from ..imageio import read_image
    from ..outputs import write_outputs
    from ..pipeline import segment
    from .segment import options_from_args

    if args.repeat < 1:
        raise SystemExit("innerear-seg bench: error: --repeat must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.input
        if args.generate_phantom or path is None:
            from ..phantom import generate

            ct, _, _ = generate(7)
            path = Path(tmp) / "phantom_ct.nrrd"
            import SimpleITK as sitk

            sitk.WriteImage(ct, str(path))
        args.roi_center = None
        options = options_from_args(args)
        runs = []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            image = read_image(path)
            t_read = time.perf_counter() - t0
            result = segment(image, options)
            timings = dict(result.timings_s)
            timings["read"] = round(timings.get("read", 0.0) + t_read, 4)
            if args.write:
                t1 = time.perf_counter()
                write_outputs(result, image, Path(tmp) / f"out{i}", case_id="bench", preview=False)
                timings["write"] = round(time.perf_counter() - t1, 4)
            timings["total"] = round(time.perf_counter() - t0, 4)
            runs.append(timings)
        size = "x".join(str(v) for v in image.GetSize())
    stages = list(runs[0])
    medians = {s: statistics.median(r.get(s, 0.0) for r in runs) for s in stages}
    figures = {"input": str(args.input or "phantom seed 7"), "size_xyz": size, "device": result.device,
               "repeat": args.repeat, "median_s": medians, "peak_rss_mb": round(peak_rss_mb(), 1)}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['input']} ({size}), device {result.device}, median of {args.repeat} runs:")
        for s in stages:
            print(f"  {s:<12} {medians[s]:7.3f} s")
        print(f"  peak memory  {figures['peak_rss_mb']:.0f} MB")
    return 0
