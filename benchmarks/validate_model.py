"""A model package's validation Dice on phantom ear boxes, as ``innerear-seg train`` measures it.

Two sets, both from the validation seeds (90 000+, never trained on): the *classic* boxes drawn as for model
2.0.0 (``PhantomSource()``'s defaults; 12 boxes, seeds 90000-90011) and the *mix* drawn like a retraining's data
(calibrated anatomy, randomised appearance, box centres off the labyrinth; 16 boxes, seeds 90000-90015).
Mean Dice per structure of the network's argmax on whole 96^3 boxes, with the seed paper's post-processing
and with it less the Gaussian; the numbers a model manifest's ``accuracy.validation_dice*`` fields hold
(``record_accuracy.py --validation``).

    .venv/bin/python benchmarks/validate_model.py --model Resources/Models/innerear_unet3d_v1.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.model.predictor import build_predictor
from InnerEarSegLib.pipeline import default_model_path
from InnerEarSegLib.postprocess import PostprocessOptions
from InnerEarSegLib.training.config import VALIDATION_SEED_START
from InnerEarSegLib.training.sources import PhantomSource
from InnerEarSegLib.training.validation import validate


def validation_sets(calibrated: float, randomised: float, centre_offset_mm: float) -> dict[str, tuple]:
    """name -> (source, seeds, words)."""
    mix = PhantomSource(calibrated_fraction=calibrated, randomised_fraction=randomised,
                        centre_offset_mm=centre_offset_mm)
    return {"classic": (PhantomSource(), range(VALIDATION_SEED_START, VALIDATION_SEED_START + 12),
                        "12 phantom ear boxes, seeds 90000-90011, drawn as for model 2.0.0 (classic anatomy and "
                        "renderer), whole 96^3 boxes"),
            "mix": (mix, range(VALIDATION_SEED_START, VALIDATION_SEED_START + 16),
                    f"16 phantom ear boxes, seeds 90000-90015, calibrated anatomy {calibrated:g}, randomised "
                    f"appearance {randomised:g}, centres +-{centre_offset_mm:g} mm, whole 96^3 boxes")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--calibrated-fraction", type=float, default=0.7)
    ap.add_argument("--randomised-fraction", type=float, default=0.4)
    ap.add_argument("--centre-offset-mm", type=float, default=4.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    predictor = build_predictor(load_model_package(args.model or default_model_path()), "cpu")
    out = {}
    for name, (source, seeds, words) in validation_sets(args.calibrated_fraction, args.randomised_fraction,
                                                        args.centre_offset_mm).items():
        samples = [source(s) for s in seeds]
        dice = validate(predictor.network, samples, spacing_mm=source.spec.spacing_mm,
                        postprocessing={"no_gaussian_postprocess": PostprocessOptions(gaussian=False),
                                        "paper_postprocess": PostprocessOptions()})
        out[name] = {"measured_on": words, **dice}
        print(name, json.dumps(dice), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
