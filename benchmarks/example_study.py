"""Example study report: `innerear-seg evaluate` on a small phantom cohort with simulated predictions.

The references are the phantom's true label maps (``generate_roi``). The "predictions" are NOT a
model's output: they are the true labels with simulated model errors of known severity (a one-voxel
shift or dilation of the whole labyrinth, structures deleted, the superior arc top lost), written on a
grid with another origin and size so that `evaluate` has to resample them onto the reference grid. The ratings file
holds each prediction's known defect score, standing in for a reader; the report also lists the
automatic suggestion. Rerun with a real model's outputs in --pred to get a real study.

Usage::

    .venv/bin/python benchmarks/example_study.py --n 30 -o study_out
"""
from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from InnerEarSegLib.labels import Side, Structure

GROUP_OF = {"scd": "malformation", "fewer_turns": "malformation", "incomplete_partition": "malformation",
            "hypoplastic_canal": "malformation", "otosclerosis": "otosclerosis", "implant": "pathological",
            "incomplete_fov": "incomplete"}
PATHOLOGY_CYCLE = ((), (), (), ("otosclerosis",), ("scd",), (), ("fewer_turns",), ("incomplete_fov",),
                   (), ("hypoplastic_canal",), ("implant",), ("otosclerosis",))


def simulate_prediction(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """True labels with a random simulated model error; returns the map and what was done."""
    out = labels.copy()
    done = []
    r = rng.random()
    if r < 0.3:  # a boundary off by one voxel along one axis (a registration-like error)
        axis = int(rng.integers(0, 3))
        out = np.roll(out, 1, axis=axis)
        done.append(f"shifted 1 voxel along {'zyx'[axis]}")
    elif r < 0.5:  # over-segmentation of the whole boundary
        grown = ndimage.grey_dilation(out, size=(3, 3, 3))
        out = np.where(out > 0, out, grown)
        done.append("dilated 1 voxel")
    n_lost = rng.choice([0, 0, 0, 1, 1, 2, 3], p=None)
    if n_lost:
        picked = rng.choice([1, 3, 3, 3, 4, 5], size=int(n_lost), replace=False)  # superior most often
        for s in dict.fromkeys(int(v) for v in picked):
            if s == Structure.SUPERIOR_CANAL and rng.random() < 0.5:
                idx = np.argwhere(out == s)
                top = idx[:, 0] > np.percentile(idx[:, 0], 70)  # highest 30 %: the arc top
                out[tuple(idx[top].T)] = 0
                done.append("superior arc top lost")
            else:
                out[out == s] = 0
                done.append(f"{Structure(int(s)).key} lost")
    return out, done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed0", type=int, default=7000)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from InnerEarSegLib.cli.main import main as cli_main
    from InnerEarSegLib.phantom.generate import generate_roi

    out = Path(args.output)
    (out / "ref").mkdir(parents=True, exist_ok=True)
    (out / "pred").mkdir(exist_ok=True)
    rng = np.random.default_rng(args.seed0)
    groups, ratings = [], []
    for i in range(args.n):
        side = Side.LEFT if i % 2 else Side.RIGHT
        pathologies = PATHOLOGY_CYCLE[i % len(PATHOLOGY_CYCLE)]
        _, ref_img, meta = generate_roi(args.seed0 + i, side, pathologies=pathologies)
        ref = sitk.GetArrayFromImage(ref_img)
        pred, done = simulate_prediction(ref, rng)
        case = f"case{i:03d}"
        sitk.WriteImage(ref_img, str(out / "ref" / f"{case}_labels.nii.gz"))
        pred_img = sitk.GetImageFromArray(pred)
        pred_img.CopyInformation(ref_img)
        # the prediction lives on another grid (origin two voxels off, larger): evaluate resamples it
        other = sitk.Resample(pred_img, [int(v) + 4 for v in ref_img.GetSize()], sitk.Transform(),
                              sitk.sitkNearestNeighbor,
                              [o - 0.6 for o in ref_img.GetOrigin()], ref_img.GetSpacing(),
                              ref_img.GetDirection(), 0, sitk.sitkUInt8)
        (out / "pred" / case).mkdir(exist_ok=True)
        sitk.WriteImage(other, str(out / "pred" / case / "labels.nii.gz"))
        known = int(meta["likert"])  # the reference itself: 1, or 2 when the field of view cut it
        lost = len([d for d in done if "lost" in d and not ("superior" in d and known > 1)])
        score = min(max(known, 1) + lost, 4)
        names = [p.split(":")[0] for p in pathologies]
        groups.append({"case_id": case, "normal": "yes" if not names else "no",
                       "pathological": "yes" if names else "no",
                       "malformation": "yes" if any(GROUP_OF.get(p) == "malformation" for p in names) else "no",
                       "otosclerosis": "yes" if "otosclerosis" in names else "no",
                       "incomplete": "yes" if "incomplete_fov" in names else "no"})
        ratings.append({"case_id": case, "side": side.value, "likert": score, "reader_id": "known-defects",
                        "comment": "; ".join(done) or "unchanged"})
    for name, rows in (("groups.csv", groups), ("ratings.csv", ratings)):
        with open(out / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    return cli_main(["evaluate", "--pred", str(out / "pred"), "--ref", str(out / "ref"), "--ratings",
                     str(out / "ratings.csv"), "--groups", str(out / "groups.csv"), "-o", str(out / "report"),
                     "--progress", "none"])


if __name__ == "__main__":
    raise SystemExit(main())
