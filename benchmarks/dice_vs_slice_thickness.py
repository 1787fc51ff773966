"""How thick may the slices of a CT be before inner-ear segmentation stops being meaningful?

The measurement behind the input policy (``InnerEarSegLib.gate.MAX_SLICE_MM``): normal two-ear MDCT
phantoms (seeds 7000-..., never used in training, which takes seeds >= 90000) are re-acquired at a
series of slice thicknesses -- the native volume blurred along z with a Gaussian slice profile whose
FWHM equals the thickness, then sampled every `thickness` mm (contiguous slices, as a scanner
reconstructs them) -- and segmented by the bundled model exactly as a user would (automatic
location; where the locator finds nothing, the true centres are given, so that the model's accuracy
is measured on its own). Each ear is scored on the segmentation's own 0.3 mm grid against the
phantom's exact labels (as ``evaluate_engine.py`` does).

    .venv/bin/python benchmarks/dice_vs_slice_thickness.py [--cases 3] [--thickness 0.5 1 1.5 2 3 5]

Prints one row per thickness: ears located, labyrinth Dice and each structure's Dice (median over
ears), and the share of ears whose lateral canal (the thinnest lumen along z) is still drawn
(Dice >= 0.5). Figures are on phantoms, not patients: the curve's shape, not its last decimal, is
what sets the policy.
"""
from __future__ import annotations

import argparse
import statistics
import time

import SimpleITK as sitk

from InnerEarSegLib.errors import InputError
from InnerEarSegLib.evaluate.metrics import dice
from InnerEarSegLib.labels import STRUCTURES, Side
from InnerEarSegLib.model import default_model_path
from InnerEarSegLib.model.device import resolve_device
from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.model.predictor import build_predictor
from InnerEarSegLib.options import RoiHint, SegmentOptions
from InnerEarSegLib.phantom.generate import generate, labels_on_grid
from InnerEarSegLib.phantom.negatives import reslice_mm
from InnerEarSegLib.pipeline import segment

FIRST_SEED = 7000
THICKNESSES_MM = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)


def evaluate(seed: int, thickness_mm: float, predictor) -> list[dict]:
    ct, _, meta = generate(seed, protocol="mdct")
    image = reslice_mm(ct, thickness_mm)
    options = SegmentOptions(meshes=False, allow_thick_slices=True)
    located = True
    try:
        result = segment(image, options, predictor=predictor)
        sides = {e.side for e in result.ears}
        if sides != {Side.LEFT, Side.RIGHT}:
            raise InputError("not both ears")
    except InputError:
        located = False
        roi = tuple(RoiHint(tuple(e["labyrinth_centre_lps_mm"]), Side(e["side"])) for e in meta["ears"])
        from dataclasses import replace
        result = segment(image, replace(options, roi=roi), predictor=predictor)
    exact = sitk.GetArrayFromImage(labels_on_grid(seed, result.label_image))
    own = sitk.GetArrayFromImage(result.label_image)
    rows = []
    for ear in result.ears:
        off = ear.side.label_offset
        row = {"seed": seed, "side": ear.side.value, "located": located,
               "labyrinth": dice((own > off) & (own <= off + 5), (exact > off) & (exact <= off + 5))}
        for s in STRUCTURES:
            row[s.key] = dice(own == off + s, exact == off + s)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=3)
    ap.add_argument("--thickness", type=float, nargs="+", default=list(THICKNESSES_MM))
    args = ap.parse_args(argv)
    predictor = build_predictor(load_model_package(default_model_path()), resolve_device("cpu"))
    keys = ["labyrinth"] + [s.key for s in STRUCTURES]
    print("| slice thickness mm | ears | located automatically | " + " | ".join(f"{k} Dice" for k in keys)
          + " | lateral canal drawn (Dice >= 0.5) |")
    print("|---|---|---|" + "---|" * len(keys) + "---|")
    t0 = time.perf_counter()
    for thickness in args.thickness:
        rows = [r for i in range(args.cases) for r in evaluate(FIRST_SEED + i, thickness, predictor)]
        cells = [f"{statistics.median(r[k] for r in rows):.3f}" for k in keys]
        drawn = sum(r["lateral"] >= 0.5 for r in rows)
        print(f"| {thickness:g} | {len(rows)} | {sum(r['located'] for r in rows) // 1}/{len(rows)} | "
              + " | ".join(cells) + f" | {drawn}/{len(rows)} |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s; bundled model, CPU, seeds {FIRST_SEED}-{FIRST_SEED + args.cases - 1}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
