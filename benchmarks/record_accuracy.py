"""Write what ``evaluate_generalisation.py`` measured into a model manifest's ``accuracy.real_shapes_dice``.

The Slicer panel and ``docs`` quote the manifest's real-shape figures beside the phantom ones, so they must be
the benchmark's, not typed in. Reads the stored rows (``evaluate_generalisation.py --json``), keeps the report
split and the real-shape rows of the default placement (each labyrinth turned as it lay in its own scanner),
and records per rendering the ears, the ears located and the median Dice per structure (a refused ear
scores 0, as in the benchmark's table); with ``--validation`` and ``--held-out`` also the validation Dice
(``validate_model.py``) and the held-out phantom CTs' (``evaluate_engine.py``). Only ``accuracy`` changes: it is not a result-changing field, so the
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
from evaluate_generalisation import KEYS, RENDERINGS, real_data_name  # noqa: E402
from real_labyrinths import SOURCE  # noqa: E402

from InnerEarSegLib.atomic_write import write_bytes_atomic  # noqa: E402
from InnerEarSegLib.model.package import load_model_package  # noqa: E402

WHAT = ("real human labyrinth surfaces (subjects 05-40), each turned as it lay in its own scanner, voxelised "
        "into synthetic CT: the project's own MDCT physics and a foreign renderer the training never used; "
        "automatic location (a refused ear scores 0); median over ears")


def real_shape_summary(rows: list[dict], split: str = "report") -> dict[str, dict]:
    """Per rendering: ears, ears located and the median Dice per structure, from stored benchmark rows."""
    out = {}
    for rendering in RENDERINGS:
        group = [r for r in rows if r["split"] == split and r["data"] == real_data_name(rendering, "scanner")]
        if not group:
            continue
        out[rendering] = {"ears": len(group), "found": sum(bool(r.get("found", True)) for r in group),
                          "median_dice": {k: round(statistics.median(r[f"{k}_dice"] for r in group), 3)
                                          for k in KEYS}}
    if not out:
        raise ValueError(f"no real-shape rows of the {split} split (scanner placement) in the stored rows")
    return out


def validation_entries(validation: dict) -> dict:
    """``accuracy`` fields from ``validate_model.py --json``: the classic boxes and the retraining's mix."""
    classic, mix = validation["classic"], validation["mix"]
    return {"validation_seeds": [90000, 90011], "validation_dice": classic["argmax"],
            "validation_dice_paper_postprocess": classic["paper_postprocess"],
            "validation_dice_no_gaussian_postprocess": classic["no_gaussian_postprocess"],
            "measured_on": classic["measured_on"],
            "validation_dice_calibrated_randomised": {"dice": mix["argmax"], "measured_on": mix["measured_on"]}}


def held_out_entry(ears: list[dict], command: str) -> dict:
    """``accuracy.held_out_ct_dice`` from ``evaluate_engine.py --json`` rows: normal ears' mean Dice and more."""
    normal = [r for r in ears if not r["pathologies"]]
    cases = sorted({r["case"] for r in ears})
    return {"command": command, "cases": f"{len(cases)} two-ear phantom CTs ({cases[0]}-{cases[-1]}, never used in "
                                          "training), MDCT and cone-beam, slices 0.25-1.0 mm",
            "normal_ears": len(normal), "grid": "the segmentation's own 0.3 mm grid, default post-processing",
            "mean_dice_normal_ears": {k: round(statistics.mean(r[f"{k}_dice_model_grid"] for r in normal
                                                               if r[f"{k}_dice_model_grid"] is not None), 3)
                                      for k in KEYS},
            "ears_found_right_side": f"{sum(r['found'] for r in ears)}/{len(ears)}",
            "suggested_likert_equals_true": f"{sum(r['suggested_likert'] == r['true_likert'] for r in ears)}/{len(ears)}"}


def record(manifest_path: Path, rows: list[dict], command: str, *, validation: dict | None = None,
           held_out: tuple[list[dict], str] | None = None) -> dict:
    """Rewrite the manifest's ``accuracy.real_shapes_dice`` from `rows` (and the validation and held-out CT
    fields, where given); returns the new real-shape entry."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = {"command": command, "source": f"{SOURCE} (measured against, never trained on)", "what": WHAT,
             "renderings": real_shape_summary(rows)}
    accuracy = manifest.setdefault("accuracy", {})
    if validation is not None:
        accuracy.update(validation_entries(validation))
    if held_out is not None:
        accuracy["held_out_ct_dice"] = held_out_entry(*held_out)
    accuracy["real_shapes_dice"] = entry
    write_bytes_atomic(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest", type=Path, help="the model's .json manifest (its .safetensors beside it)")
    ap.add_argument("rows", type=Path, help="evaluate_generalisation.py --json output")
    ap.add_argument("--command", required=True, help="the command that measured the rows, for the record")
    ap.add_argument("--validation", type=Path, help="validate_model.py --json output")
    ap.add_argument("--held-out", type=Path, help="evaluate_engine.py --json output (its command: --held-out-command)")
    ap.add_argument("--held-out-command", default=".venv/bin/python benchmarks/evaluate_engine.py --cases 20")
    args = ap.parse_args(argv)
    read = lambda p: json.loads(p.read_text(encoding="utf-8"))  # noqa: E731
    entry = record(args.manifest, read(args.rows), args.command,
                   validation=read(args.validation) if args.validation else None,
                   held_out=(read(args.held_out), args.held_out_command) if args.held_out else None)
    load_model_package(args.manifest.with_suffix(".safetensors"))  # checksums still hold
    print(json.dumps(entry["renderings"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
