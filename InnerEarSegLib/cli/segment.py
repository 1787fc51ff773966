"""``innerear-seg segment CT -o OUT``: the whole job on one CT."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..segmenter import case_id_from_path  # noqa: F401  (re-exported: the one case-id rule)
from .progress_display import ProgressPrinter, add_progress_argument


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("segment", help="segment both inner ears of a CT",
                              description="Segment both inner ears of a temporal-bone or head CT and write a "
                                          "Slicer segmentation, a NIfTI label map, meshes, report.json and a preview.")
    p.add_argument("input", type=Path, help="CT: NIfTI, NRRD, MHA file or a DICOM series folder (HU)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_model_arguments(p)
    p.add_argument("--roi-center", nargs=3, type=float, metavar=("X_MM", "Y_MM", "Z_MM"), action="append",
                   help="ear centre in LPS world mm instead of automatic location (repeat for both ears)")
    p.add_argument("--roi-side", choices=("left", "right"), action="append",
                   help="side of each --roi-center (default: from the image mid-line)")
    p.add_argument("--mesh-format", choices=("stl", "obj", "ply", "vtp"), default="stl")
    p.add_argument("--no-meshes", action="store_true", help="do not build surfaces")
    p.add_argument("--preview", action="store_true", help="write preview.png")
    p.add_argument("--dicom-seg", action="store_true",
                   help="also write segmentation.dcm, a DICOM SEG referring to the input series (DICOM input only)")
    p.add_argument("--case-id", help="case identifier for the report (default: input file name)")
    add_progress_argument(p)
    p.set_defaults(func=run)
    return p


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``segment`` and ``bench``: model, device and post-processing switches."""
    p.add_argument("--model", type=Path, metavar="PATH", help="model package (.safetensors + .json); default: bundled")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--no-gaussian", action="store_true", help="skip the 3-D Gaussian of the post-processing")
    p.add_argument("--sigma", type=float, default=None, metavar="VOXELS",
                   help="Gaussian sigma in voxels of the 0.3 mm model grid (default 0.5; the seed paper's 2.5 "
                        "erases the semicircular canals on this grid)")
    p.add_argument("--no-otsu", action="store_true", help="foreground = argmax instead of Otsu on the filtered map")
    p.add_argument("--no-islands", action="store_true", help="keep small islands")


def options_from_args(args):
    from dataclasses import replace

    from ..labels import Side
    from ..options import RoiHint, SegmentOptions

    post = SegmentOptions().postprocess
    changes = {}
    if args.no_gaussian:
        changes["gaussian"] = False
    if args.sigma is not None:
        changes["sigma_vox"] = args.sigma
    if args.no_otsu:
        changes["otsu"] = False
    if args.no_islands:
        changes["remove_islands"] = False
    post = replace(post, **changes)
    roi = ()
    centres = getattr(args, "roi_center", None) or []
    sides = getattr(args, "roi_side", None) or []
    if sides and len(sides) != len(centres):
        raise SystemExit("innerear-seg segment: error: give one --roi-side per --roi-center (or none)")
    roi = tuple(RoiHint(tuple(c), Side(sides[i]) if sides else None) for i, c in enumerate(centres))
    return SegmentOptions(model_path=args.model, device=args.device, roi=roi, postprocess=post,
                          meshes=not getattr(args, "no_meshes", False),
                          mesh_format=getattr(args, "mesh_format", "stl"))


def run(args) -> int:
    from ..segmenter import Segmenter

    printer = ProgressPrinter(args.progress)
    options = options_from_args(args)
    case = Segmenter(options).run_case(args.input, args.out, case_id=args.case_id, preview=args.preview,
                                       dicom_seg=args.dicom_seg, progress=printer)
    result, outputs = case.result, case.outputs
    message = f"wrote {len(outputs)} outputs to {args.out}"
    if args.progress == "json":
        print(json.dumps({"stage": "done", "fraction": 1.0, "message": message,
                          "outputs": outputs,
                          "out_dir": str(args.out)}), flush=True)
    else:
        printer("done", 1.0, message)
        _print_summary(result)
    return 0


def _print_summary(result) -> None:
    for ear in result.ears:
        a = ear.assessment
        likert = f", suggested Likert {a.likert}" if a is not None else ""
        vols = ", ".join(f"{k} {v:.0f}" for k, v in ear.volumes_mm3.items())
        print(f"{ear.side.value} ear (confidence {ear.confidence:.2f}){likert}: volumes mm3: {vols}")
    total = sum(result.timings_s.values())
    print(f"device {result.device}; {total:.2f} s in the pipeline: " +
          ", ".join(f"{k} {v:.2f}" for k, v in result.timings_s.items()))
