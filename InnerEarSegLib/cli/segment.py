"""``innerear-seg segment CT -o OUT``: the whole job on one CT."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..gate import MAX_SPACING_MM
from ..model.device import DEVICE_CHOICES, parse_device
from ..options import DEFAULT_SIGMA_VOX, PAPER_POSTPROCESS
from ..surface import MESH_FORMATS
from .progress_display import ProgressPrinter, add_progress_argument


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("segment", help="segment both inner ears of a CT",
                              description="Segment both inner ears of a temporal-bone or head CT and write a "
                                          "Slicer segmentation, a NIfTI label map, meshes, report.json and a preview.")
    p.add_argument("input", type=Path, help="CT: NIfTI, NRRD, MHA file or a DICOM series folder (HU)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="output folder")
    add_model_arguments(p)
    p.add_argument("--roi-center", nargs=3, type=finite_float, metavar=("X_MM", "Y_MM", "Z_MM"), action="append",
                   help="ear centre in LPS world mm instead of automatic location (repeat for both ears)")
    p.add_argument("--roi-side", choices=("left", "right"), action="append",
                   help="side of each --roi-center (default: from the image mid-line)")
    p.add_argument("--allow-thick-slices", action="store_true",
                   help=f"segment a scan coarser than {MAX_SPACING_MM:g} mm along some axis (refused by default: the "
                        f"canals' lumens are 0.8-1 mm); every result is then marked low resolution")
    p.add_argument("--no-recentre", action="store_true",
                   help="keep each box where the locator (or --roi-center) put it; by default a box whose labyrinth "
                        "the network finds 2-10 mm off centre is moved onto it and segmented again")
    p.add_argument("--mesh-format", choices=MESH_FORMATS, default=MESH_FORMATS[0],
                   help=f"file format of the meshes (default {MESH_FORMATS[0]})")
    p.add_argument("--no-meshes", action="store_true", help="do not build surfaces")
    p.add_argument("--preview", action="store_true", help="write preview.png")
    p.add_argument("--dicom-seg", action="store_true",
                   help="also write segmentation.dcm, a DICOM SEG referring to the input series (DICOM input only)")
    p.add_argument("--case-id", help="case identifier for the report (default: input file name)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files of our names that no earlier innerear-seg run made (refused otherwise)")
    p.add_argument("--series", metavar="UID", help="the DICOM series to read when the input folder holds several")
    add_progress_argument(p)
    p.set_defaults(func=run)
    return p


#: Largest accepted Gaussian sigma: 10 voxels (3 mm on the 0.3 mm grid) already blurs a whole labyrinth.
MAX_SIGMA_VOX = 10.0


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def sigma_voxels(text: str) -> float:
    """argparse type for ``--sigma``: 0 (no Gaussian) to :data:`MAX_SIGMA_VOX` voxels."""
    value = finite_float(text)
    if not 0.0 <= value <= MAX_SIGMA_VOX:
        raise argparse.ArgumentTypeError(f"sigma must be between 0 (no Gaussian) and {MAX_SIGMA_VOX:g} voxels, "
                                         f"got {text!r}")
    return value


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``segment`` and ``bench``: model, device and post-processing switches."""
    p.add_argument("--model", type=Path, metavar="PATH", help="model package (.safetensors + .json); default: bundled")
    p.add_argument("--device", type=device_argument, default="auto", metavar="DEVICE",
                   help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto: CUDA when available, else the CPU)")
    p.add_argument("--no-gaussian", action="store_true", help="skip the 3-D Gaussian of the post-processing")
    p.add_argument("--sigma", type=sigma_voxels, default=None, metavar="VOXELS",
                   help=f"Gaussian sigma in voxels of the model grid, 0 to {MAX_SIGMA_VOX:g} (default "
                        f"{DEFAULT_SIGMA_VOX:g}; 0 = no Gaussian; the seed paper's {PAPER_POSTPROCESS.sigma_vox:g} "
                        f"erases the semicircular canals on a 0.3 mm grid)")
    p.add_argument("--no-otsu", action="store_true", help="foreground = argmax instead of Otsu on the filtered map")
    p.add_argument("--no-islands", action="store_true", help="keep small islands")


def device_argument(text: str) -> str:
    """argparse type of ``--device``: the library's one device parser."""
    try:
        return parse_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def options_from_args(args):
    """The :class:`~InnerEarSegLib.options.SegmentOptions` of parsed ``segment``/``bench`` arguments.

    The inverse of :meth:`SegmentOptions.cli_arguments` (a test holds the round trip).
    """
    from dataclasses import replace

    from ..labels import Side
    from ..options import RoiHint, SegmentOptions

    post = SegmentOptions().postprocess
    changes = {}
    if args.no_gaussian or args.sigma == 0:
        changes["gaussian"] = False  # sigma 0 is no Gaussian, as documented
    if args.sigma:  # kept with --no-gaussian too, so that cli_arguments round-trips
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
                          allow_thick_slices=getattr(args, "allow_thick_slices", False),
                          recentre=not getattr(args, "no_recentre", False))


def run(args) -> int:
    from ..segmenter import Segmenter

    printer = ProgressPrinter(args.progress)
    options = options_from_args(args)
    case = Segmenter(options).run_case(args.input, args.out, case_id=args.case_id, preview=args.preview,
                                       mesh_format=args.mesh_format, overwrite=args.overwrite,
                                       series_uid=args.series, dicom_seg=args.dicom_seg, progress=printer)
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
    if result.input_info.get("low_resolution"):
        print(f"LOW RESOLUTION: voxels of {result.input_info['coarsest_spacing_mm']:.2f} mm (policy <= "
              f"{MAX_SPACING_MM:g} mm); the canals cannot be resolved reliably, check every structure by eye.")
    for ear in result.ears:
        a = ear.assessment
        likert = f", suggested Likert {a.likert}" if a is not None else ""
        vols = ", ".join(f"{k} {v:.0f}" for k, v in ear.volumes_mm3.items())
        trust = getattr(ear, "trust", None)
        if trust is not None and not trust.trusted:  # never shown like a normal result
            print(f"{ear.side.value.upper()} EAR: {trust.flag.upper()} — " + "; ".join(trust.reasons))
        print(f"{ear.side.value} ear (location confidence {ear.confidence:.2f}){likert}: volumes mm3: {vols}")
    total = sum(result.timings_s.values())
    print(f"device {result.device}; {total:.2f} s in the pipeline: " +
          ", ".join(f"{k} {v:.2f}" for k, v in result.timings_s.items()))
