"""Build the bundled sample CT ``Resources/SampleData/InnerEarPhantom_ct.nrrd`` (and its reference labels).

A two-ear MDCT phantom (seed 20261126) cropped to the temporal-bone region, so the file stays small
enough to ship with the extension. Deterministic: rerunning gives the same voxels.

    .venv/bin/python scripts/make_sample_data.py
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from InnerEarSegLib.phantom.generate import generate

SEED = 20261131  # 0.36 x 0.36 x 0.62 mm, a typical clinical temporal-bone protocol
OUT = Path(__file__).resolve().parent.parent / "Resources" / "SampleData"
#: Half-widths of the crop around the midpoint of the two labyrinths, in mm (x lateral, y, z).
HALF_MM = (52.0, 24.0, 18.0)


def crop_around(ct: sitk.Image, labels: sitk.Image, centre_lps_mm: np.ndarray):
    """Crop both (identity-direction) images to the box of HALF_MM around `centre_lps_mm`."""
    corners = [ct.TransformPhysicalPointToIndex([float(c + sign * h) for c, h in zip(centre_lps_mm, HALF_MM)])
               for sign in (-1, 1)]
    lo = [max(0, min(a, b)) for a, b in zip(*corners)]
    hi = [min(n - 1, max(a, b)) for a, b, n in zip(*corners, ct.GetSize())]
    extent = [h - l + 1 for l, h in zip(lo, hi)]
    return sitk.RegionOfInterest(ct, extent, lo), sitk.RegionOfInterest(labels, extent, lo)


def main() -> int:
    ct, labels, meta = generate(SEED, protocol="mdct", slices=160)
    centres = np.array([e["labyrinth_centre_lps_mm"] for e in meta["ears"]])
    ct_c, lab_c = crop_around(ct, labels, centres.mean(axis=0))
    ct_c = sitk.Cast(ct_c, sitk.sitkInt16)
    OUT.mkdir(parents=True, exist_ok=True)
    ct_path, lab_path = OUT / "InnerEarPhantom_ct.nrrd", OUT / "InnerEarPhantom_labels.nrrd"
    sitk.WriteImage(ct_c, str(ct_path), True)
    sitk.WriteImage(lab_c, str(lab_path), True)
    info = {
        "seed": SEED, "generator": "InnerEarSegLib.phantom.generate", "protocol": "mdct",
        "size_xyz": list(ct_c.GetSize()), "spacing_mm_xyz": list(ct_c.GetSpacing()),
        "ears": [{k: e[k] for k in ("side", "labyrinth_centre_lps_mm", "likert", "structures_present") if k in e}
                 for e in meta["ears"]],
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ct_path, lab_path)},
    }
    (OUT / "InnerEarPhantom.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
