"""``innerear-seg evaluate --pred DIR --ref DIR [--ratings CSV] [--groups CSV] -o OUT``: the seed paper's
study tables (Dice per case and subgroup, Likert distribution, mean Dice per level, Spearman) as CSV,
Markdown and HTML with plots."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="compare predictions with references: Dice, HD95, MSD, subgroups, Likert (paper tables)",
        description="Match prediction and reference label maps by case id (<case>_labels.nii.gz, <case>.nii.gz or "
                    "<case>/labels.nii.gz), resample each prediction onto its reference grid (nearest neighbour, "
                    "world space), and write per-case metrics, a subgroup table (n, mean (SD), median, min, max), "
                    "the Likert distribution with mean Dice per level and Spearman's rho, plus plots.")
    p.add_argument("--pred", required=True, metavar="DIR", help="folder of predicted label maps, or the "
                   "manifest.csv / manifest.jsonl of an innerear-seg batch study (its done cases)")
    p.add_argument("--ref", required=True, metavar="DIR", help="folder of reference label maps")
    p.add_argument("--ratings", metavar="CSV", help="reader ratings (case_id, side, likert; the ratings CSV the "
                   "review panel writes); default: the automatic suggested score of each prediction")
    p.add_argument("--groups", metavar="CSV", help="case_id plus yes/no columns (normal, pathological, ...) or "
                   "a categorical column (e.g. group=normal)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="folder for the report")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..errors import InputError
    from ..evaluate import run_study
    from .progress_display import ProgressPrinter

    printer = ProgressPrinter(args.progress)
    try:
        result = run_study(args.pred, args.ref, args.output, ratings_csv=args.ratings, groups_csv=args.groups,
                           progress=printer)
    except (ValueError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from None
    overall = result.subgroup_rows[0]
    sys.stderr.write(f"{overall['n']} cases, mean Dice {overall['mean']:.3f}; Spearman rho "
                     f"{result.likert.rho:.2f} (p={result.likert.p_value:.3g}); report: "
                     f"{result.outputs['markdown']}\n")
    return 0
