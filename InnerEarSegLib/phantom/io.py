"""Write phantom cases: ``DIR/<case>_ct.nii.gz``, ``<case>_labels.nii.gz``, ``<case>.json``.

Deterministic: NIfTI through SimpleITK (zlib's gzip stream carries no timestamp) and JSON with
sorted keys, so the same seed and options give byte-identical files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..atomic_write import atomic_output_path, write_text_atomic


def case_id(seed: int, *, protocol: str = "mdct", pathologies=(), fov: str = "both", anatomy: str = "classic",
            appearance: str = "classic") -> str:
    """File stem of a case, e.g. ``phantom_00042`` or ``phantom_00042_calibrated_randomised_cbct_scd-implant_left``."""
    parts = [f"phantom_{int(seed):05d}"]
    parts += [v for v in (anatomy, appearance) if v != "classic"]
    if protocol != "mdct":
        parts.append(protocol)
    if pathologies:
        parts.append("-".join(str(p).replace(":", "+").replace("@", "+") for p in pathologies))
    if fov != "both":
        parts.append(fov)
    return "_".join(parts)


def to_json(meta: dict) -> str:
    """Canonical JSON text of a sidecar (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(meta, sort_keys=True, indent=2, default=_default) + "\n"


def _default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_case(ct: sitk.Image, labels: sitk.Image, meta: dict, out_dir, case: str) -> dict[str, Path]:
    """Write the three files of one case atomically (temporary name, then rename); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"ct": out / f"{case}_ct.nii.gz", "labels": out / f"{case}_labels.nii.gz", "json": out / f"{case}.json"}
    for key, image in (("ct", ct), ("labels", labels)):
        with atomic_output_path(paths[key]) as tmp:
            sitk.WriteImage(image, str(tmp), useCompression=True)
    write_text_atomic(paths["json"], to_json(dict(meta, case_id=case)))
    return paths
