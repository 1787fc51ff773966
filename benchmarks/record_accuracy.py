"""Write what ``evaluate_generalisation.py`` measured into a model manifest's ``accuracy.real_shapes_dice``.

The Slicer panel and ``docs`` quote the manifest's real-shape figures beside the phantom ones, so they must be
the benchmark's, not typed in. Reads the stored rows (``evaluate_generalisation.py --json``), keeps the report
split and the real-shape rows of the default placement (each labyrinth turned as it lay in its own scanner),
and records per rendering the ears, the ears located and the median Dice per structure (a refused ear
scores 0, as in the benchmark's table). Only ``accuracy`` changes: it is not a result-changing field, so the
manifest's checksums stay valid (the package is loaded afterwards to prove it).

    .venv/bin/python benchmarks/record_accuracy.py Resources/Models/innerear_unet3d_v1.json gen.json \\
        --command "evaluate_generalisation.py .work/real/labyrinths --subjects 5-40 --dev-subjects 1-4 ..."
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from real_labyrinths import SOURCE  # noqa: E402

from InnerEarSegLib.atomic_write import write_bytes_atomic  # noqa: E402
from InnerEarSegLib.labels import STRUCTURES  # noqa: E402
from InnerEarSegLib.model.package import load_model_package  # noqa: E402

KEYS = ["labyrinth"] + [s.key for s in STRUCTURES]
RENDERINGS = ("own mdct", "foreign mdct", "foreign cbct")
WHAT = ("real human labyrinth surfaces (subjects 05-40), each turned as it lay in its own scanner, voxelised "
        "into synthetic CT: the project's own MDCT physics and a foreign renderer the training never used; "
        "automatic location (a refused ear scores 0); median over ears")


def real_shape_summary(rows: list[dict], split: str = "report") -> dict[str, dict]:
    """Per rendering: ears, ears located and the median Dice per structure, from stored benchmark rows."""
    out = {}
    for rendering in RENDERINGS:
        group = [r for r in rows if r["split"] == split and r["data"] == f"real shapes, {rendering}"]
        if not group:
            continue
        out[rendering] = {"ears": len(group), "found": sum(bool(r.get("found", True)) for r in group),
                          "median_dice": {k: round(statistics.median(r[f"{k}_dice"] for r in group), 3)
                                          for k in KEYS}}
    if not out:
        raise ValueError(f"no real-shape rows of the {split} split (scanner placement) in the stored rows")
    return out


def record(manifest_path: Path, rows: list[dict], command: str) -> dict:
    """Rewrite the manifest's ``accuracy.real_shapes_dice`` from `rows`; returns the new entry."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = {"command": command, "source": f"{SOURCE} (measured against, never trained on)", "what": WHAT,
             "renderings": real_shape_summary(rows)}
    manifest.setdefault("accuracy", {})["real_shapes_dice"] = entry
    write_bytes_atomic(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest", type=Path, help="the model's .json manifest (its .safetensors beside it)")
    ap.add_argument("rows", type=Path, help="evaluate_generalisation.py --json output")
    ap.add_argument("--command", required=True, help="the command that measured the rows, for the record")
    args = ap.parse_args(argv)
    entry = record(args.manifest, json.loads(args.rows.read_text(encoding="utf-8")), args.command)
    load_model_package(args.manifest.with_suffix(".safetensors"))  # checksums still hold
    print(json.dumps(entry["renderings"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
