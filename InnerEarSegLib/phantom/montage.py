"""PNG montage of model-box samples (:func:`.generate.generate_roi`): one column per sample, an axial and a
coronal slice through the vestibule with the labels outlined, titled with the sample's options.

    python -m InnerEarSegLib.phantom.montage --out docs/phantom_randomised.png --seeds 0 1 2 3 4 5 \\
        --anatomy calibrated --appearance randomised --with-classic

Each tile is windowed to its own 1st-99th percentile, as a randomised sample has no fixed HU scale.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..labels import STRUCTURE_COLORS_RGB, Side, Structure


def _tile(ax, img2d, lab2d, title):
    lo, hi = np.percentile(img2d, [1, 99])
    ax.imshow(img2d, cmap="gray", vmin=lo, vmax=hi, origin="lower")
    for st in Structure:
        m = lab2d == int(st)
        if m.any():
            ax.contour(m.astype(float), levels=[0.5], colors=[STRUCTURE_COLORS_RGB[st]], linewidths=0.7, origin="lower")
    ax.set_title(title, fontsize=7)
    ax.set_axis_off()


def roi_montage_png(samples, path: str | Path) -> Path:
    """Write a montage of ``(title, ct_box, labels_box)`` samples (SimpleITK images) to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = list(samples)
    fig, axes = plt.subplots(2, len(samples), figsize=(2.0 * len(samples), 4.3), squeeze=False)
    for k, (title, ct, lab) in enumerate(samples):
        a, l = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(lab)
        zz, yy, xx = np.nonzero(l == Structure.VESTIBULE)
        cz, cy = (int(np.median(zz)), int(np.median(yy))) if len(zz) else (a.shape[0] // 2, a.shape[1] // 2)
        _tile(axes[0, k], a[cz], l[cz], title + "\naxial")
        _tile(axes[1, k], a[:, cy], l[:, cy], "coronal")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    from .generate import generate_roi

    parser = argparse.ArgumentParser(description="PNG montage of phantom model-box samples")
    parser.add_argument("--out", required=True, type=Path, action="append", help="PNG path (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
    parser.add_argument("--anatomy", default="calibrated")
    parser.add_argument("--appearance", default="randomised")
    parser.add_argument("--with-classic", action="store_true",
                        help="first column: the classic sample of the first seed")
    args = parser.parse_args(argv)
    samples = []
    if args.with_classic:
        ct, lab, _ = generate_roi(args.seeds[0], Side.RIGHT)
        samples.append((f"seed {args.seeds[0]} classic", ct, lab))
    for seed in args.seeds:
        side = Side.LEFT if seed % 2 else Side.RIGHT
        ct, lab, meta = generate_roi(seed, side, anatomy=args.anatomy, appearance=args.appearance)
        mode = meta.get("tissue_hu", {}).get("mode", "")
        samples.append((f"seed {seed} {side.value}\n{args.appearance} {mode}".rstrip(), ct, lab))
    for out in args.out:
        roi_montage_png(samples, out)
        sys.stdout.write(f"{out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
