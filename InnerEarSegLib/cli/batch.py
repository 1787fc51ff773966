"""``innerear-seg batch INPUTS... -o STUDY``: a whole study, resumable, failures isolated, optionally on Dask."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .segment import add_model_arguments


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of workers, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 worker, got {value}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "batch", help="segment a study: many CTs, resumable, failures isolated, optionally on a Dask cluster",
        description="Segment every CT of a study into STUDY/<case_id>/ (what `segment` writes) and keep "
                    "STUDY/manifest.csv and manifest.jsonl (status done/failed/refused, reason, model SHA-256, "
                    "options, timings, per-ear Likert). A case already done with the same model and options is "
                    "skipped, so rerunning resumes. Without --workers/--scheduler the cases run in this process "
                    "with the model loaded once.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="CT files, DICOM series folders, folders to scan, or a CSV of case_id,path[,group]")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="STUDY", help="study folder")
    add_model_arguments(p)
    p.add_argument("--mesh-format", choices=("stl", "obj", "ply", "vtp"), default="stl")
    p.add_argument("--no-meshes", action="store_true", help="do not build surfaces")
    p.add_argument("--no-recentre", action="store_true",
                   help="keep each box where the locator put it (default: moved onto the network's labyrinth when "
                        "that lies 2-10 mm off centre, and segmented again)")
    p.add_argument("--preview", action="store_true", help="write preview.png per case")
    p.add_argument("--dicom-seg", action="store_true",
                   help="also write segmentation.dcm (DICOM SEG) per case; DICOM inputs only, others are refused")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_workers, metavar="N",
                       help="start a dask.distributed LocalCluster of N worker processes on this machine")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (dask scheduler / dask worker, "
                            "or dask-jobqueue; see docs/batch.md)")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                   help="progress display: a bar with ETA for a person, JSON lines for programs, or none")
    p.set_defaults(func=run)
    return p


class BatchProgress:
    """Study events as a bar with counts and ETA (stderr) or as JSON lines (stdout)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.counts = {"done": 0, "failed": 0, "refused": 0}

    def __call__(self, event: dict) -> None:
        if self.mode == "json":
            print(json.dumps(event), flush=True)
            return
        if event["event"] == "case":
            self.counts[event["status"]] += 1
            if event["status"] != "done" and self.mode == "bar":
                sys.stderr.write(f"\n{event['case_id']}: {event['status']}: {event['reason']}\n")
        if self.mode != "bar":
            return
        if event["event"] == "start":
            sys.stderr.write(f"{event['total']} cases: {event['skipped']} already done, {event['pending']} to run\n")
            return
        n, total = event["finished"], event["pending"]
        filled = int(round(30 * n / max(total, 1)))
        c = self.counts
        sys.stderr.write(f"\r[{'#' * filled}{'-' * (30 - filled)}] {n}/{total} done {c['done']} failed {c['failed']} "
                         f"refused {c['refused']}  ETA {event['eta_s']:.0f} s ")
        if n == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(args) -> int:
    from ..batch import StudyConfig, discover_cases, run_study
    from .segment import options_from_args

    options = options_from_args(args)
    config = StudyConfig(study_dir=args.out.resolve(), options=options, preview=args.preview,
                         dicom_seg=args.dicom_seg)
    cases = discover_cases(args.inputs)
    progress = BatchProgress(args.progress)
    if args.workers is None and args.scheduler is None:
        summary = run_study(cases, config, progress=progress)
    else:
        summary = _run_on_dask(args, cases, config, progress)
    line = (f"{summary.total} cases: {summary.done} done ({summary.skipped} skipped as already done), "
            f"{summary.failed} failed, {summary.refused} refused in {summary.elapsed_s:.1f} s; "
            f"manifest: {summary.manifest_csv}")
    if args.progress == "json":
        print(json.dumps({"event": "summary", "total": summary.total, "done": summary.done,
                          "skipped": summary.skipped, "failed": summary.failed, "refused": summary.refused,
                          "elapsed_s": summary.elapsed_s, "manifest": str(summary.manifest_csv)}), flush=True)
    else:
        print(line)
    return 0


def _run_on_dask(args, cases, config, progress):
    from ..batch import run_study
    from ..batch.dask_engine import DaskEngine, connect, dashboard_link, start_local_cluster

    import logging

    if not getattr(args, "verbose", False):  # distributed logs every worker's start and stop at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = None
    if args.workers is not None:
        cluster, client = start_local_cluster(args.workers)
    else:
        client = connect(args.scheduler)
    try:
        link = dashboard_link(client)
        message = f"Dask dashboard: {link}" if link else "Dask dashboard: not available on this scheduler"
        if args.progress == "json":
            print(json.dumps({"event": "cluster", "scheduler": client.scheduler.address, "dashboard": link,
                              "workers": len(client.scheduler_info()["workers"])}), flush=True)
        elif args.progress == "bar":
            sys.stderr.write(message + "\n")
        return run_study(cases, config, engine=DaskEngine(client), progress=progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
