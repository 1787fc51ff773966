"""Does a model draw the same structures on the whole ear box as on a crop of it?

The U-Net's instance normalisation takes its statistics from its input, so a network trained only
on crops sees other statistics on the whole 96³ box it segments at inference. This script runs a
model package on validation phantom boxes twice, on the whole box and on a crop (edge ``--crop``)
centred on each structure, and compares both predictions inside that crop: predicted / true volume
and Dice per structure (raw argmax, no post-processing). A model without the problem scores the
same both ways.

    .venv/bin/python benchmarks/compare_crop_inference.py [--model PATH.safetensors] [--crop 64] [--n 12]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from InnerEarSegLib.evaluate.metrics import dice
from InnerEarSegLib.labels import STRUCTURES
from InnerEarSegLib.model.intensity import DEFAULT_NORMALISATION, normalise_hu
from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.model.predictor import build_predictor
from InnerEarSegLib.pipeline import default_model_path
from InnerEarSegLib.training import VALIDATION_SEED_START, PhantomSource, TrainConfig


def predict_labels(net: torch.nn.Module, hu: np.ndarray, origin_vox: tuple[int, int, int]) -> np.ndarray:
    """Argmax labels of `net` on the HU array `hu`, a crop whose first voxel lies at `origin_vox` in the box."""
    x = torch.from_numpy(normalise_hu(hu.astype(np.float32), DEFAULT_NORMALISATION))[None, None]
    with torch.inference_mode():
        return net(x, torch.tensor([origin_vox], dtype=torch.float32)).argmax(1)[0].numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="model package (default: the bundled model)")
    ap.add_argument("--crop", type=int, default=64, help="crop edge in voxels (default 64)")
    ap.add_argument("--n", type=int, default=12, help="validation boxes, seeds 90000.. (default 12)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    loaded = load_model_package(args.model or default_model_path())
    net = build_predictor(loaded, "cpu").network  # checked against the manifest, in eval mode
    size = loaded.manifest.box_size_vox
    if not 0 < args.crop <= size or args.crop % 8:
        ap.error(f"--crop must be a multiple of 8 between 8 and the box size {size}, got {args.crop}")
    source = PhantomSource(TrainConfig().spec)
    rows: dict[str, list[tuple[float, float, float, float]]] = {s.key: [] for s in STRUCTURES}
    for seed in range(VALIDATION_SEED_START, VALIDATION_SEED_START + args.n):
        hu, truth = source(seed)
        whole = predict_labels(net, hu, (0, 0, 0))
        for structure in STRUCTURES:
            true_mask = truth == int(structure)
            if not true_mask.any():
                continue
            centre = np.argwhere(true_mask).mean(axis=0).astype(int)
            origin = tuple(int(np.clip(c - args.crop // 2, 0, size - args.crop)) for c in centre)
            box = tuple(slice(o, o + args.crop) for o in origin)
            crop = predict_labels(net, hu[box], origin) == int(structure)
            inside, t = whole[box] == int(structure), true_mask[box]
            n_true = max(1, int(t.sum()))
            rows[structure.key].append((inside.sum() / n_true, crop.sum() / n_true, dice(inside, t), dice(crop, t)))
    name = f"{loaded.weights_path} ({loaded.manifest.name} {loaded.manifest.version})"
    print(f"{name}: predicted / true volume and Dice inside a {args.crop}³ crop around each structure, "
          f"network run on the whole {size}³ box or on the crop ({args.n} validation boxes; mean)\n")
    print("| structure | n | volume ratio, whole box | volume ratio, crop | Dice, whole box | Dice, crop |")
    print("|---|---|---|---|---|---|")
    for key, values in rows.items():
        if values:
            means = [statistics.fmean(v[i] for v in values) for i in range(4)]
            print(f"| {key} | {len(values)} | " + " | ".join(f"{m:.2f}" if i < 2 else f"{m:.3f}"
                                                               for i, m in enumerate(means)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
