"""Studies at scale, measured in one run: N phantom CTs (3 of them broken) through

1. a shell loop of ``innerear-seg segment`` (one process per CT: interpreter, imports, model loading each time),
2. ``innerear-seg batch`` in this process (the default; killed with SIGKILL half-way and resumed),
3. ``innerear-seg batch --workers 1`` and ``--workers 2`` (dask.distributed LocalCluster),
4. ``innerear-seg batch --scheduler`` on a ``dask scheduler`` with two ``dask worker --no-nanny`` processes,

then a rerun of a finished study (every done case skipped). Prints CTs per minute, the per-case overhead
above the in-process pipeline (read + segment + write of each case, from the manifest), peak RSS, and checks
that each study has N-3 done and 3 refused cases and that the killed-and-resumed study's manifest equals an
uninterrupted one's. Every command runs as a user runs it (a fresh process), with the bundled model.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_batch.py --work /tmp/bench_batch --json out.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

STABLE = ("case_id", "status", "reason", "out_dir", "model_sha256", "options_key", "right_likert", "left_likert")
CLI = [sys.executable, "-m", "InnerEarSegLib.cli.main"]


def make_inputs(folder: Path, n: int, *, matrix: int, slices: int) -> list[str]:
    """n - 3 phantom CTs (seeds 1000...) and 3 broken inputs: a truncated file, a 2-D image, an MR-like volume."""
    import numpy as np
    import SimpleITK as sitk

    from InnerEarSegLib.phantom.generate import generate

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n - 3):
        path = folder / f"ct{i:02d}.nrrd"
        if not path.exists():
            sitk.WriteImage(generate(1000 + i, matrix=matrix, slices=slices)[0], str(path))
    good = folder / "ct00.nrrd"
    (folder / "broken_truncated.nrrd").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    sitk.WriteImage(sitk.ReadImage(str(good))[:, :, 10], str(folder / "broken_2d.nrrd"))
    mr = sitk.GetImageFromArray(np.random.default_rng(0).uniform(0, 200, (64, 96, 96)).astype(np.float32))
    mr.SetSpacing((0.5, 0.5, 0.5))
    sitk.WriteImage(mr, str(folder / "broken_mr.nrrd"))
    return sorted(str(p) for p in folder.glob("*.nrrd"))


def run(cmd: list[str], **kw) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) of the process tree's largest waited-for process, exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024.0, os.waitstatus_to_exitcode(status)


def manifest(study: Path) -> list[dict]:
    with (study / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def study_figures(name: str, study: Path, wall_s: float, rss_mb: float, n: int, workers: int = 1) -> dict:
    rows = manifest(study)
    done = [r for r in rows if r["status"] == "done"]
    in_process_s = sum(float(r["total_s"]) for r in done)  # read + segment + write inside the worker
    return {"mode": name, "wall_s": round(wall_s, 1), "cts_per_min": round(60 * n / wall_s, 2),
            "done": len(done), "refused": sum(r["status"] == "refused" for r in rows),
            "failed": sum(r["status"] == "failed" for r in rows),
            "median_case_total_s": round(statistics.median(float(r["total_s"]) for r in done), 2),
            "median_case_pipeline_s": round(statistics.median(float(r["pipeline_s"]) for r in done), 2),
            "sum_case_total_s": round(in_process_s, 1), "workers": workers,
            # wall time per case slot above the in-process read + segment + write of the cases
            "overhead": round(wall_s * workers / in_process_s - 1, 3), "peak_rss_mb": round(rss_mb)}


def shell_loop(inputs: list[str], out: Path) -> dict:
    t0, peaks, codes = time.perf_counter(), [], []
    for path in inputs:
        name = Path(path).stem
        _, rss, code = run(CLI + ["segment", path, "-o", str(out / name), "--progress", "none"])
        peaks.append(rss)
        codes.append(code)
    wall = time.perf_counter() - t0
    return {"mode": "shell loop of segment", "wall_s": round(wall, 1), "cts_per_min": round(60 * len(inputs) / wall, 2),
            "done": codes.count(0), "refused": len(codes) - codes.count(0), "peak_rss_mb": round(max(peaks))}


def killed_and_resumed(inputs_dir: Path, study: Path, kill_after: int) -> tuple[float, float, int]:
    """In-process batch, SIGKILLed after `kill_after` journalled cases, then resumed; wall of both parts."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(CLI + ["batch", str(inputs_dir), "-o", str(study), "--progress", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = 0
    for line in proc.stdout:
        if json.loads(line).get("event") == "case":
            seen += 1
            if seen == kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
    _, status, usage = os.wait4(proc.pid, 0)
    journalled = sum(1 for _ in (study / "manifest.jsonl").open())
    wall2, rss2, _ = run(CLI + ["batch", str(inputs_dir), "-o", str(study), "--progress", "none"])
    return time.perf_counter() - t0, max(usage.ru_maxrss / 1024.0, rss2), journalled


def scheduler_study(inputs_dir: Path, study: Path, work: Path) -> tuple[float, float]:
    sched_file = work / "scheduler.json"
    sched_file.unlink(missing_ok=True)
    dask = [str(Path(sys.executable).with_name("dask"))]
    procs = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    while not sched_file.exists():
        time.sleep(0.2)
    cores = max(1, len(os.sched_getaffinity(0)))
    for i in range(2):
        procs.append(subprocess.Popen(dask + ["worker", "--scheduler-file", str(sched_file), "--host", "127.0.0.1",
                                              "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={**os.environ, "OMP_NUM_THREADS": str(max(1, cores // 2))}))
    address = json.loads(sched_file.read_text())["address"]
    from distributed import Client

    with Client(address) as client:
        client.wait_for_workers(2, timeout=120)
    wall, _, _ = run(CLI + ["batch", str(inputs_dir), "-o", str(study), "--scheduler", address, "--progress", "none"])
    peaks = []
    for p in procs[1:]:
        p.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(p.pid, 0)
        peaks.append(usage.ru_maxrss / 1024.0)
    procs[0].terminate()
    procs[0].wait()
    return wall, max(peaks)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="work folder (inputs and studies are written here)")
    p.add_argument("--n", type=int, default=40, help="number of inputs, 3 of them broken (default 40)")
    p.add_argument("--matrix", type=int, default=384)
    p.add_argument("--slices", type=int, default=96)
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    inputs_dir = args.work / "inputs"
    inputs = make_inputs(inputs_dir, args.n, matrix=args.matrix, slices=args.slices)
    n = len(inputs)
    print(f"{n} inputs ({n - 3} phantom CTs {args.matrix}x{args.matrix}x{args.slices}, 3 broken); "
          f"{len(os.sched_getaffinity(0))} cores; load average {os.getloadavg()[0]:.2f}", flush=True)
    figures = []
    shell = shell_loop(inputs, args.work / "shell")
    figures.append(shell)
    print(json.dumps(shell), flush=True)

    wall, rss, journalled = killed_and_resumed(inputs_dir, args.work / "inprocess", kill_after=n // 2)
    figures.append(study_figures("batch in-process (kill -9 at half, resumed)", args.work / "inprocess", wall, rss, n))
    figures[-1]["journalled_before_kill"] = journalled
    print(json.dumps(figures[-1]), flush=True)
    t_skip, _, _ = run(CLI + ["batch", str(inputs_dir), "-o", str(args.work / "inprocess"), "--progress", "none"])
    print(json.dumps({"rerun_of_finished_study_s": round(t_skip, 2)}), flush=True)

    for workers in (1, 2):
        study = args.work / f"workers{workers}"
        wall, rss, _ = run(CLI + ["batch", str(inputs_dir), "-o", str(study), "--workers", str(workers),
                                  "--progress", "none"])
        figures.append(study_figures(f"batch --workers {workers}", study, wall, rss, n, workers))
        print(json.dumps(figures[-1]), flush=True)
    wall, rss = scheduler_study(inputs_dir, args.work / "scheduler", args.work)
    figures.append(study_figures("batch --scheduler (dask scheduler + 2 dask worker)", args.work / "scheduler",
                                 wall, rss, n, 2))
    print(json.dumps(figures[-1]), flush=True)

    stable = lambda s: [{k: r[k] for k in STABLE} for r in manifest(args.work / s)]  # noqa: E731
    same = stable("inprocess") == stable("workers2") == stable("scheduler")
    best = min(figures[1:], key=lambda f: f["wall_s"])
    inproc = figures[1]  # noqa: F841 (named for the summary below)
    summary = {
        "rerun_of_finished_study_s": round(t_skip, 2),
        "killed_resumed_manifest_equals_uninterrupted": same,
        "best_mode": best["mode"], "speedup_best_vs_shell": round(shell["wall_s"] / best["wall_s"], 2),
        "speedup_inprocess_vs_shell": round(shell["wall_s"] / inproc["wall_s"], 2),
        "overhead_by_mode": {f["mode"]: f.get("overhead") for f in figures[1:]},
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
