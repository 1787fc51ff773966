"""End-to-end wall time and peak memory of ``innerear-seg segment`` as a user runs it.

Runs the CLI as a fresh process N times (interpreter start, imports and model loading included)
on a 512 x 512 x 160 two-ear phantom and prints the median wall time and the median/max peak RSS.

    .venv/bin/python benchmarks/bench_segment.py --repeat 5
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--input", type=Path, help="CT to use (default: generate phantom seed 7, 512x512x160)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="extra arguments for segment")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ct = args.input
        if ct is None:
            from InnerEarSegLib.phantom import generate
            import SimpleITK as sitk

            image, _, _ = generate(7)
            ct = Path(tmp) / "bench_ct.nrrd"
            sitk.WriteImage(image, str(ct))
            print(f"phantom seed 7: size {image.GetSize()}, spacing {image.GetSpacing()}")
        exe = [sys.executable, "-m", "InnerEarSegLib.cli.main", "segment", str(ct), "--progress", "none"]
        walls, rss = [], []
        for i in range(args.repeat):
            wall, peak = run_once(exe + ["-o", str(Path(tmp) / f"out{i}"), *args.extra])
            walls.append(wall)
            rss.append(peak)
            print(f"run {i + 1}: {wall:.2f} s wall, peak RSS {peak:.0f} MB")
    print(f"median wall {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
          f"peak RSS median {statistics.median(rss):.0f} MB, max {max(rss):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
