"""``innerear-seg import-mpunet PROJECT_DIR -o MODEL``: convert the seed paper's MultiPlanarUNet project."""
from __future__ import annotations

import argparse

from ..labels import BACKGROUND_CLASS


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "import-mpunet",
        help="import a MultiPlanarUNet (mpunet) project folder as an InnerEarSeg model package",
        description="Read an mpunet project folder (train_hparams.yaml, views.npz, the best "
                    "model/@epoch_XX_val_dice_S.h5 and its fusion weights) with h5py and PyYAML, check every "
                    "layer, and write MODEL.safetensors + MODEL.json (SHA-256 checked at load). Use it with "
                    "`innerear-seg segment --model MODEL.safetensors`. No TensorFlow needed.")
    p.add_argument("project_dir", metavar="PROJECT_DIR", help="the mpunet project folder")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="output .safetensors file (or a folder: <name>.safetensors inside it)")
    p.add_argument("--name", help="model name (default: mpunet-<project folder name>)")
    p.add_argument("--model-version", default="1", help="version string stored in the manifest (default 1)")
    p.add_argument("--labels", metavar="NAME,NAME,...",
                   help="class names after background in the project's class order, comma-separated: structure "
                        "keys (cochlea, vestibule, superior, lateral, posterior; mapped by name) or, for 2 classes, "
                        "any name of the labyrinth (default: labyrinth)")
    p.add_argument("--sum-fusion", action="store_true",
                   help="sum the views instead of using the learned fusion weights (mpunet --sum_fusion)")
    p.add_argument("--sampling-centre", choices=("box", "image"), default="box",
                   help="centre the view planes on each ear box (default) or on the image centre as mpunet does")
    p.set_defaults(func=run)
    return p


def parse_labels(text: str | None) -> dict[int, str] | None:
    """``"cochlea,vestibule"`` -> ``{0: "background", 1: "cochlea", 2: "vestibule"}``."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise argparse.ArgumentTypeError(f"--labels must be comma-separated non-empty names, got {text!r}")
    return {0: BACKGROUND_CLASS, **{i + 1: n for i, n in enumerate(names)}}


def run(args: argparse.Namespace) -> int:
    import sys

    from ..mpunet.importer import import_project

    manifest = import_project(args.project_dir, args.output, name=args.name, version=args.model_version,
                              labels=parse_labels(args.labels), sum_fusion=args.sum_fusion,
                              sampling_centre=args.sampling_centre)
    p = manifest.architecture_params
    print(f"imported {manifest.name}: {p['n_classes']} classes, {len(p['views_ras'])} views, dim {p['dim']}, "
          f"span {p['real_space_span_mm']} mm, complexity factor {p['complexity_factor']}, "
          f"{p['fusion']} fusion, weights {p['source_weights']}; SHA-256 {manifest.weights_sha256[:16]}...",
          file=sys.stderr)
    return 0
