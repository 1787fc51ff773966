"""``innerear-seg phantom --seed N --out DIR [...]``: synthetic temporal-bone CTs with labelled inner ears.

Writes ``DIR/<case>_ct.nii.gz``, ``DIR/<case>_labels.nii.gz`` (right ear 1-5, left ear 11-15) and
``DIR/<case>.json`` (every drawn parameter, structures present, Likert per ear, landmarks in LPS mm,
acquisition protocol), and with ``--preview`` a PNG montage ``DIR/<case>_preview.png``.
Same seed and options give byte-identical files.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

PROTOCOL_CHOICES = ("mdct", "cbct")
FOV_CHOICES = ("both", "left", "right")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _pathology(text: str) -> str:
    from ..phantom.pathology import parse_pathology

    name = text.partition("@")[0]
    try:
        parse_pathology(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "phantom", help="generate synthetic temporal-bone CTs with both inner ears labelled",
        description="Generate K synthetic head CTs (seeds N..N+K-1) with both inner ears labelled, CT physics of "
                    "the chosen protocol and optional pathologies. Pathologies: scd, otosclerosis, fewer_turns, "
                    "incomplete_partition, hypoplastic_canal[:superior|lateral|posterior], "
                    "missing_canal[:canal], common_cavity, implant, incomplete_fov, otitis_media; add @left or @right to pick "
                    "the ear (default: an ear chosen by the seed).")
    p.add_argument("--seed", required=True, type=_non_negative_int, metavar="N", help="first case seed")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--protocol", choices=PROTOCOL_CHOICES, default="mdct",
                   help="multidetector CT or cone-beam CT (default: mdct)")
    p.add_argument("--pathology", action="extend", nargs="+", type=_pathology, default=[], metavar="NAME",
                   help="one or more pathologies (repeatable)")
    p.add_argument("--count", type=_positive_int, default=1, metavar="K", help="number of cases (default 1)")
    p.add_argument("--fov", choices=FOV_CHOICES, default="both", help="field of view: both ears or one")
    p.add_argument("--matrix", type=_positive_int, default=512, metavar="PX", help="in-plane matrix (default 512)")
    p.add_argument("--slices", type=_positive_int, default=160, metavar="N", help="number of slices (default 160)")
    p.add_argument("--anatomy", choices=("classic", "calibrated"), default="classic",
                   help="classic: the anatomy model 2.0.0 was trained on (default); calibrated: calibrated to real "
                        "labyrinths, with elastic deformation (docs/phantom.md)")
    p.add_argument("--appearance", choices=("classic", "randomised"), default="classic",
                   help="randomised: random tissue intensities, acquisition, artefacts and distractors "
                        "(SynthSeg-style domain randomisation; default classic)")
    p.add_argument("--preview", action="store_true", help="also write <case>_preview.png")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..errors import InputError
    from ..phantom import generate
    from ..phantom.io import case_id, write_case
    from ..phantom.preview import preview_png

    log = logging.getLogger(__name__)
    for k in range(args.count):
        seed = args.seed + k
        t0 = time.perf_counter()
        try:
            ct, labels, meta = generate(seed, protocol=args.protocol, pathologies=tuple(args.pathology),
                                        fov=args.fov, matrix=args.matrix, slices=args.slices,
                                        anatomy=args.anatomy, appearance=args.appearance)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        case = case_id(seed, protocol=args.protocol, pathologies=args.pathology, fov=args.fov,
                       anatomy=args.anatomy, appearance=args.appearance)
        paths = write_case(ct, labels, meta, args.out, case)
        if args.preview:
            preview_png(ct, labels, dict(meta, case_id=case), paths["ct"].with_name(f"{case}_preview.png"))
        likert = ", ".join(f"{e['side']} Likert {e['likert']}" for e in meta["ears"])
        log.info("case %s written in %.1f s", case, time.perf_counter() - t0)
        sys.stdout.write(f"{paths['ct']}  ({likert}; {time.perf_counter() - t0:.1f} s)\n")
    return 0
