"""Weight-space interpolation between a model and a network fine-tuned from it.

``(1 - alpha) * start + alpha * end``, tensor by tensor (WiSE-FT: Wortsman et al., "Robust fine-tuning
of zero-shot models", CVPR 2022). Along that line a network continued from ``start`` on new data often
keeps more of what ``start`` did well than ``end`` does, and keeps much of what ``end`` gained; only
measurement says where on the line to stop (``benchmarks/evaluate_generalisation.py``). Both packages must
be the same network on the same box and intensities: anything else has no meaningful average.

    python -m InnerEarSegLib.model.interpolate START.safetensors END.safetensors --alpha 0.5 \\
        --out mixed.safetensors --version 2.1.0-rc1
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from ..errors import ModelError
from .package import LoadedModel, ModelManifest, load_model_package, save_model_package

#: Manifest fields that must agree for an average of the weights to be the same kind of network.
MUST_AGREE = ("architecture", "architecture_params", "labels", "spacing_mm", "box_size_vox", "normalisation")


def interpolate_tensors(start: LoadedModel, end: LoadedModel, alpha: float) -> dict:
    """``(1 - alpha) * start + alpha * end`` per floating-point tensor (integer buffers are taken from `end`).

    Raises
    ------
    ModelError
        If `alpha` is outside [0, 1], or the packages differ in a field of :data:`MUST_AGREE`, in tensor names
        or in tensor shapes (the message names the first difference).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ModelError(f"alpha must be in [0, 1] (0 = the start model, 1 = the end model), got {alpha!r}")
    for name in MUST_AGREE:
        a, b = getattr(start.manifest, name), getattr(end.manifest, name)
        if a != b:
            raise ModelError(f"cannot interpolate {start.weights_path.name} and {end.weights_path.name}: their {name} "
                             f"differ ({a!r} vs {b!r}); interpolate only a network and one continued from it")
    if start.tensors.keys() != end.tensors.keys():
        extra = sorted(set(start.tensors) ^ set(end.tensors))[:3]
        raise ModelError(f"cannot interpolate: the packages hold different tensors (e.g. {extra})")
    out = {}
    for key, a in start.tensors.items():
        b = end.tensors[key]
        if a.shape != b.shape:
            raise ModelError(f"cannot interpolate: tensor {key} is {tuple(a.shape)} in one package and "
                             f"{tuple(b.shape)} in the other")
        out[key] = ((1.0 - alpha) * a.double() + alpha * b.double()).to(a.dtype) if a.is_floating_point() else b
    return out


def interpolated_manifest(start: LoadedModel, end: LoadedModel, alpha: float, version: str) -> ModelManifest:
    """`end`'s network description with `version`, how it was made and no accuracy carried over (neither
    parent's figures describe the average).

    ``training`` holds the command that remakes it from the two parents (by file name), the data in words,
    ``interpolated`` (both parents by name, version and checksum; alpha) and each parent's own training record
    under ``parents``, so the whole history of the weights stays in one manifest.
    """
    def who(m: LoadedModel) -> dict:
        return {"name": m.manifest.name, "version": m.manifest.version, "weights_sha256": m.manifest.weights_sha256,
                "file": m.weights_path.name}
    def data(m: LoadedModel) -> str:
        return str(m.manifest.training.get("data", "not recorded"))
    training = {
        "command": (f"python -m InnerEarSegLib.model.interpolate {start.weights_path.name} {end.weights_path.name} "
                    f"--alpha {alpha:g} --out OUT.safetensors --version {version}"),
        "data": (f"a weight-space average ({1 - alpha:g} x {start.manifest.version} + {alpha:g} x "
                 f"{end.manifest.version}) of two networks; {start.manifest.version}: {data(start)}; "
                 f"{end.manifest.version}: {data(end)}"),
        "interpolated": {"start": who(start), "end": who(end), "alpha": alpha,
                         "method": "(1 - alpha) * start + alpha * end per tensor (WiSE-FT)"},
        "parents": {"start": start.manifest.training, "end": end.manifest.training},
    }
    return dataclasses.replace(end.manifest, version=version, training=training,
                               accuracy={"note": "not measured at writing: run benchmarks/evaluate_generalisation.py"},
                               weights_sha256="", weights_file="", settings_sha256={})


def write_interpolated(start_path: str | os.PathLike, end_path: str | os.PathLike, alpha: float,
                       out_path: str | os.PathLike, *, version: str) -> ModelManifest:
    """Load and verify both packages, interpolate, and write a new package at `out_path` (never over a file)."""
    out_path = Path(out_path)
    for target in (out_path, out_path.with_suffix(".json")):
        if target.exists():
            raise ModelError(f"{target} exists; choose another --out (an existing model is never overwritten)")
    start, end = load_model_package(start_path), load_model_package(end_path)
    tensors = interpolate_tensors(start, end, alpha)
    return save_model_package(out_path, tensors, interpolated_manifest(start, end, alpha, version))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("start", help="the original model package (.safetensors)")
    ap.add_argument("end", help="a package continued from it")
    ap.add_argument("--alpha", type=float, required=True, help="0 = start, 1 = end")
    ap.add_argument("--out", required=True, help="new .safetensors path (its .json is written beside it)")
    ap.add_argument("--version", required=True, help="version string of the new package")
    args = ap.parse_args(argv)
    try:
        written = write_interpolated(args.start, args.end, args.alpha, args.out, version=args.version)
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} (version {written.version}, alpha {args.alpha}, sha256 {written.weights_sha256[:16]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
