"""``innerear-seg train``: train the bundled U-Net on synthetic phantoms within a wall-clock budget."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _safetensors_path(text: str) -> str:
    if not text.endswith(".safetensors"):
        raise argparse.ArgumentTypeError(f"--out must end in .safetensors (the .json manifest goes next to it), "
                                         f"got {text!r}")
    return text


def _offset_mm(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected millimetres or 'none', got {text!r}") from None


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train the 3-D U-Net on synthetic phantoms",
        description="Train the per-structure 3-D U-Net on phantom ear boxes generated on the fly, stop after "
                    "--minutes of wall clock, and write the best model (by validation Dice) as a model package.")
    p.add_argument("--out", required=True, type=_safetensors_path, metavar="PATH.safetensors",
                   help="model package to write (PATH.safetensors + PATH.json)")
    p.add_argument("--minutes", type=_positive_float, default=60.0, metavar="MIN",
                   help="wall-clock budget in minutes, data generation and final validation included (default 60)")
    p.add_argument("--seed", type=int, default=0, help="run seed: training phantoms, crops, augmentation (default 0)")
    p.add_argument("--base-channels", type=int, default=6, help="U-Net channels at full resolution (default 6)")
    p.add_argument("--levels", type=int, default=4, help="U-Net resolution levels (default 4)")
    p.add_argument("--no-coordinates", dest="coordinates", action="store_false",
                   help="image input only (default: the network also sees each voxel's position in the ear box)")
    p.add_argument("--canal-weight", type=_positive_float, default=3.0,
                   help="cross-entropy weight of the three canal classes (default 3)")
    p.add_argument("--batch-size", type=int, default=1, help="boxes per iteration (default 1)")
    p.add_argument("--crop", type=int, default=96, metavar="VOX",
                   help="training crop edge in voxels (default 96: the whole box, as at inference)")
    p.add_argument("--lr", type=_positive_float, default=2e-3, help="Adam learning rate (default 2e-3)")
    p.add_argument("--warmup-iterations", type=int, default=50, metavar="N",
                   help="iterations over which the learning rate rises linearly to --lr (default 50)")
    p.add_argument("--foreground-crops", type=float, default=0.5, metavar="FRACTION",
                   help="share of crops placed around a structure drawn uniformly among those present, the rest "
                        "uniform in the box (default 0.5)")
    p.add_argument("--validation-cases", metavar="FOLDER", default=None,
                   help="choose the best network on your own labelled CTs in FOLDER (<case>_ct.* + <case>_labels.*, "
                        "two-ear labels right 1-5 / left 11-15) instead of phantom validation seeds")
    p.add_argument("--n-validation", type=int, default=12, help="validation phantoms, seeds 90000.. (default 12)")
    p.add_argument("--validate-every", type=_positive_float, default=5.0, metavar="MIN",
                   help="minutes between validations (default 5)")
    p.add_argument("--pool-size", type=int, default=128, help="phantom boxes kept in memory (default 128)")
    p.add_argument("--pool-fill-minutes", type=_positive_float, default=1.0, metavar="MIN",
                   help="at most this long generating the initial pool before training starts (default 1)")
    p.add_argument("--workers", type=int, default=1, help="background phantom generators (default 1; 0 = none)")
    p.add_argument("--worker-duty", type=float, default=0.25, metavar="FRACTION",
                   help="share of one core each generator may use, the rest is left to training (default 0.25)")
    p.add_argument("--cbct-fraction", type=float, default=0.35, help="share of cone-beam phantoms (default 0.35)")
    p.add_argument("--pathology-rate", type=float, default=0.25, help="share of pathological ears (default 0.25)")
    p.add_argument("--calibrated-fraction", type=float, default=0.8, metavar="FRACTION",
                   help="share of phantoms with anatomy calibrated to real labyrinths (default 0.8; 0 = model 2.0.0)")
    p.add_argument("--randomised-fraction", type=float, default=0.6, metavar="FRACTION",
                   help="share of phantoms with randomised appearance: tissue intensities, acquisition, artefacts, "
                        "distractors (default 0.6; 0 = model 2.0.0)")
    p.add_argument("--centre-offset-mm", type=_offset_mm, default=5.0, metavar="MM",
                   help="box centre drawn within +-MM of the labyrinth centre per axis (default 5); 'none': the "
                        "phantom's own +-3 mm jitter, as model 2.0.0 saw")
    p.add_argument("--device", default="auto", help="auto (CUDA when usable), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--max-iterations", type=int, default=None, help="stop after this many iterations (smoke runs)")
    p.add_argument("--init", metavar="PATH.safetensors", default=None,
                   help="start from this model package (same architecture) instead of random weights")
    p.add_argument("--name", default="innerear_unet3d_v1", help="model name in the manifest")
    p.add_argument("--model-version", default="1.0.0", help="model version in the manifest")
    p.set_defaults(func=run)
    return p


def _train_arguments(argv: list[str]) -> list[str]:
    """The arguments after ``train`` (``innerear-seg train ...``) or all of them (``python -m ...cli.train``)."""
    return argv[argv.index("train") + 1:] if "train" in argv else argv[1:]


def run(args: argparse.Namespace) -> int:
    import os

    # On a shared CPU, OpenMP threads that spin while waiting slow training down several-fold;
    # waiting passively is set before torch starts its thread pool (an explicit setting wins).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ..training import TrainConfig, train

    logging.getLogger("InnerEarSegLib.training").setLevel(logging.INFO)
    try:
        config = TrainConfig(
            minutes=args.minutes, seed=args.seed, base_channels=args.base_channels, levels=args.levels,
            coordinates=args.coordinates, canal_weight=args.canal_weight, batch_size=args.batch_size,
            crop_vox=args.crop, learning_rate=args.lr, foreground_crops=args.foreground_crops,
            warmup_iterations=args.warmup_iterations, n_validation=args.n_validation,
            validate_every_minutes=args.validate_every, pool_size=args.pool_size,
            pool_fill_minutes=args.pool_fill_minutes,
            pool_workers=args.workers, worker_duty=args.worker_duty,
            cbct_fraction=args.cbct_fraction, pathology_rate=args.pathology_rate, threads=args.threads,
            calibrated_fraction=args.calibrated_fraction, randomised_fraction=args.randomised_fraction,
            centre_offset_mm=args.centre_offset_mm, device=args.device, validation_cases=args.validation_cases,
            max_iterations=args.max_iterations, name=args.name, version=args.model_version)
    except ValueError as exc:
        print(f"innerear-seg train: error: {exc}", file=sys.stderr)
        return 2
    command = "innerear-seg train " + shlex.join(_train_arguments(sys.argv))
    init = None
    if args.init:
        from ..model.package import load_model_package

        init = load_model_package(args.init)
    result = train(args.out, config, command=command, init=init)
    dice = result.validation_dice
    print(f"wrote {result.path} (+ .json) after {result.time_s:.0f} s, {result.iterations} iterations")
    print("validation Dice: " + ", ".join(f"{k} {v:.3f}" for k, v in dice.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``train`` on its own: ``python -m InnerEarSegLib.cli.train --out ...`` (same options)."""
    parser = argparse.ArgumentParser(prog="innerear-seg")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
