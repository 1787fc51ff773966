"""Where each real structure's voxels go: the confusion of true and predicted labels on real labyrinth shapes.

A low Dice alone does not say whether a canal was missed (called background), misnamed (called vestibule or
another canal) or drawn too thin. For pairs of real subjects (``real_labyrinths.py``), rendered as
``evaluate_generalisation.py`` renders them (same seeds) and segmented with default options and automatic
location, this prints, per rendering, the share of each true structure's voxels given to each predicted class
and each structure's predicted / true volume. Scored on the segmentation's 0.3 mm grid inside the scan; the two
ears pooled.

    .venv/bin/python benchmarks/real_shape_confusion.py .work/real/labyrinths --subjects 1-4 \\
        --renderings "own mdct,foreign mdct"
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).parent))
import evaluate_generalisation as gen  # noqa: E402
from evaluate_engine import _extent_mask  # noqa: E402
from real_labyrinths import RealDataMissing, load_subjects  # noqa: E402

from InnerEarSegLib.errors import NoEarFound  # noqa: E402
from InnerEarSegLib.labels import STRUCTURES, Side  # noqa: E402

CLASSES = ["background"] + [s.key for s in STRUCTURES]


def confusion(truth_zyx: np.ndarray, predicted_zyx: np.ndarray) -> np.ndarray:
    """6 x 6 voxel counts, rows true class, columns predicted class (two-ear values folded onto 0-5).

    The background-background cell is left 0: it only counts the box.
    """
    t, p = np.asarray(truth_zyx) % 10, np.asarray(predicted_zyx) % 10
    if t.max(initial=0) > 5 or p.max(initial=0) > 5:
        raise ValueError("labels must be two-ear values (0, 1-5, 11-15)")
    counts = np.bincount((6 * t.astype(np.int64) + p).ravel(), minlength=36).reshape(6, 6)
    counts[0, 0] = 0
    return counts


def table(counts: np.ndarray, title: str) -> str:
    """Markdown: share of each true structure's voxels per predicted class, and predicted / true volume."""
    head = "| true \\ predicted | " + " | ".join(CLASSES) + " | predicted / true volume | voxels |"
    lines = [f"**{title}**", "", head, "|" + "---|" * (len(CLASSES) + 3)]
    for i in range(1, 6):
        row = counts[i] / max(int(counts[i].sum()), 1)
        ratio = counts[:, i].sum() / max(int(counts[i].sum()), 1)
        lines.append(f"| {CLASSES[i]} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {ratio:.2f} | {counts[i].sum()} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, nargs="?", default=Path("/work/main/.work/real/labyrinths"))
    ap.add_argument("--subjects", type=gen._range, default=gen._range("1-4"), help="pairs of subjects, e.g. 1-4")
    ap.add_argument("--renderings", type=gen._renderings, default=gen.RENDERINGS)
    ap.add_argument("--placement", choices=gen.PLACEMENTS, default="scanner",
                    help="how a real labyrinth is turned in the head (evaluate_generalisation.py --placement)")
    ap.add_argument("--model", type=Path)
    args = ap.parse_args(argv)
    from InnerEarSegLib.model.package import load_model_package
    from InnerEarSegLib.model.predictor import build_predictor
    from InnerEarSegLib.pipeline import default_model_path

    try:
        subjects = {s.subject: s for s in load_subjects(args.folder, args.subjects)}
    except RealDataMissing as err:
        print(f"skipped: {err}")
        return 0
    predictor = build_predictor(load_model_package(args.model or default_model_path()), "cpu")
    ids = sorted(subjects)
    for rendering in args.renderings:
        total = np.zeros((6, 6), np.int64)
        for k in range(0, len(ids) - 1, 2):
            labs = {Side.RIGHT: subjects[ids[k]], Side.LEFT: subjects[ids[k + 1]]}
            seed = gen.render_seed(ids[k], rendering)
            ct, meta = gen.render_real(labs, rendering, seed, args.placement)
            try:
                result = gen._segment(ct, predictor)
            except NoEarFound as exc:
                print(f"subjects {ids[k]:02d}/{ids[k + 1]:02d}, {rendering}: not located ({str(exc)[:80]}), left out")
                continue
            truth = gen.real_truth(labs, meta["poses"], result.label_image)
            inside = _extent_mask(ct, result.label_image)
            total += confusion(np.where(inside, sitk.GetArrayFromImage(truth), 0),
                               np.where(inside, sitk.GetArrayFromImage(result.label_image), 0))
        print(table(total, f"{gen.real_data_name(rendering, args.placement)}, subjects {ids[0]:02d}-{ids[-1]:02d}"), "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
