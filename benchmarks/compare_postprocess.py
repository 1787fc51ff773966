"""Per-structure Dice of the bundled model on held-out phantom ear boxes under several post-processing
settings: the seed paper's (Gaussian σ 2.5 voxels + Otsu), a narrower Gaussian, and none.

The network runs once per box; only the post-processing changes, so the differences are the
post-processing's alone.

    .venv/bin/python benchmarks/compare_postprocess.py [--n 16]
"""
from __future__ import annotations

import argparse
import statistics
import sys

import SimpleITK as sitk

from InnerEarSegLib.evaluate.metrics import dice
from InnerEarSegLib.labels import STRUCTURES, Side
from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.model.predictor import build_predictor
from InnerEarSegLib.options import DEFAULT_POSTPROCESS
from InnerEarSegLib.phantom import generate_roi
from InnerEarSegLib.pipeline import default_model_path
from InnerEarSegLib.postprocess import PostprocessOptions, postprocess

SETTINGS = {
    "paper: Gaussian σ 2.5 vox + Otsu": PostprocessOptions(),
    "Gaussian σ 1.0 vox + Otsu": PostprocessOptions(sigma_vox=1.0),
    f"Gaussian σ {DEFAULT_POSTPROCESS.sigma_vox:g} vox + Otsu (default)": DEFAULT_POSTPROCESS,
    "no Gaussian, Otsu": PostprocessOptions(gaussian=False),
    "argmax only": PostprocessOptions(gaussian=False, otsu=False, remove_islands=False),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="ear boxes (seeds 7000..)")
    ap.add_argument("--first-seed", type=int, default=7000)
    args = ap.parse_args(argv)
    predictor = build_predictor(load_model_package(default_model_path()), "cpu")
    scores = {name: {s.key: [] for s in STRUCTURES} for name in SETTINGS}
    for i in range(args.n):
        side = Side.LEFT if i % 2 else Side.RIGHT
        protocol = "cbct" if i % 4 == 3 else "mdct"
        ct_box, labels_box, _ = generate_roi(args.first_seed + i, side, protocol=protocol)
        truth = sitk.GetArrayFromImage(labels_box)
        probs = predictor.predict_array(sitk.GetArrayFromImage(ct_box))
        for name, opt in SETTINGS.items():
            pred = postprocess(probs, options=opt, spacing_mm=0.3)
            for s in STRUCTURES:
                if (truth == s).any():
                    scores[name][s.key].append(dice(pred == s, truth == s))
    keys = [s.key for s in STRUCTURES]
    print(f"mean Dice on {args.n} held-out phantom ear boxes (seeds {args.first_seed}-{args.first_seed + args.n - 1}):\n")
    print("| post-processing | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name in SETTINGS:
        print(f"| {name} | " + " | ".join(f"{statistics.mean(scores[name][k]):.3f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
