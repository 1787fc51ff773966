"""``innerear-seg assess LABELMAP [--binary] [--json] [--side left|right]``: per-ear, per-structure
status with its evidence and the suggested Likert score (Table 1 of the seed paper)."""
from __future__ import annotations

import argparse
import json
import sys

from ..labels import STRUCTURES, describe_two_ear_labels


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "assess", help="suggest the Likert score of a label map (present/incomplete/missing per structure)",
        description="Check each ear's cochlea, vestibule and three canals (volume, loop closure through the "
                    "vestibule, cochlear turns, fragments) and suggest the seed paper's Likert score: 1 complete, "
                    "2 one structure lost, 3 two lost, 4 three or more lost or disorganised.")
    p.add_argument("labelmap", metavar="LABELMAP", help=f"label image (NIfTI/NRRD/MHA): {describe_two_ear_labels()}, "
                   "or a binary labyrinth mask with --binary")
    p.add_argument("--binary", action="store_true", help="the map is a binary labyrinth mask: split it into the "
                   f"{len(STRUCTURES)} structures geometrically first")
    p.add_argument("--side", choices=("left", "right"), help="side of a single-ear map (default: from the labels "
                   "or the grid)")
    p.add_argument("--json", action="store_true", help="print JSON for programs instead of a table")
    p.set_defaults(func=run)
    return p


def format_table(assessments) -> str:
    """A table for a person: one block per ear, one line per structure."""
    lines = []
    for a in assessments:
        flag = ", disorganised" if a.disorganised else ""
        lines.append(f"{(a.side or 'ear').capitalize()} ear: suggested Likert {a.likert}{flag}"
                     f"{' (binary mask split geometrically)' if a.binary else ''}")
        lines.append(f"  {'structure':<10} {'status':<11} {'volume mm3':>10}  evidence")
        for s in a.structures:
            e = s.evidence
            extra = []
            if "loop_closed" in e:
                extra.append(f"loop {'closed' if e['loop_closed'] else 'open'} ({e.get('openings', 0)} openings)")
            if "angular_coverage" in e:
                extra.append(f"turns {e.get('turns', 0):.1f}, coverage {e['angular_coverage']:.0%}")
            extra.append(f"{e.get('components', 0)} piece(s)")
            lines.append(f"  {s.structure:<10} {s.status:<11} {e.get('volume_mm3', 0.0):>10.1f}  {', '.join(extra)}")
        for r in a.reasons:
            lines.append(f"  - {r}")
        lines.append("")
    return "\n".join(lines)


def check_binary_mask(image, where: str) -> None:
    """Refuse an image that is not a 0/1 mask (e.g. a CT given by mistake); raises InputError."""
    import numpy as np
    import SimpleITK as sitk

    from ..errors import InputError

    array = sitk.GetArrayViewFromImage(image)
    values = np.unique(array) if array.size <= 1 << 28 else np.unique(array[::4, ::4, ::4])
    if not set(values.tolist()) <= {0, 1}:
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise InputError(f"{where!r} is not a binary mask: it holds {len(values)} different values ({shown}; from "
                         f"{float(values[0]):g} to {float(values[-1]):g}). --binary needs a labyrinth mask of 0 and 1; "
                         f"is this the CT itself? Give the mask, or a label map (1-5, 11-15) without --binary.")


def run(args) -> int:
    import SimpleITK as sitk

    from ..assess import assess_label_image
    from ..errors import InputError

    try:
        image = sitk.ReadImage(args.labelmap)
    except RuntimeError as exc:
        raise InputError(f"cannot read label map {args.labelmap!r}: {str(exc).strip().splitlines()[-1]}") from None
    if args.binary:
        check_binary_mask(image, args.labelmap)
    try:
        ears = assess_label_image(image, binary=args.binary, side=args.side)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if args.json:
        json.dump({"labelmap": args.labelmap, "binary": bool(args.binary), "ears": [a.to_dict() for a in ears]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(ears))
    return 0
