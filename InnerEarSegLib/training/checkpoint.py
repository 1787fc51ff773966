"""Model packages out of a run: the manifest (how the weights were made), provisional saves, starting weights."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import torch

from ..model.intensity import DEFAULT_NORMALISATION
from ..model.package import LoadedModel, ModelManifest, save_model_package
from ..model.unet3d import UNet3DParams
from .config import CLASS_NAMES, TrainConfig
from .state import TrainingState


def build_manifest(config: TrainConfig, params: UNet3DParams, training: dict, accuracy: dict) -> ModelManifest:
    return ModelManifest(
        name=config.name, version=config.version, architecture="unet3d", architecture_params=params.to_dict(),
        labels=dict(enumerate(CLASS_NAMES[: params.n_classes])), spacing_mm=config.spacing_mm,
        box_size_vox=config.box_size_vox, normalisation=dict(DEFAULT_NORMALISATION), training=training,
        accuracy=accuracy)


def data_description(config: TrainConfig) -> str:
    """What the network was trained on, in words, for the manifest."""
    offset = ("+-3 mm (generator default)" if config.centre_offset_mm is None
              else f"+-{config.centre_offset_mm} mm per axis")
    return ("synthetic phantom ear boxes from InnerEarSegLib.phantom.generate_roi (left and right ears, "
            f"MDCT and cone-beam CT with cbct fraction {config.cbct_fraction}, pathologies at rate "
            f"{config.pathology_rate}, calibrated anatomy at rate {config.calibrated_fraction}, randomised "
            f"appearance at rate {config.randomised_fraction}, box centre offset {offset}); training seeds from "
            f"{config.training_seed(0)}, validation seeds {config.validation_seeds[0]}-{config.validation_seeds[-1]}"
            "; seeds 0-89999 never used")


def training_record(config: TrainConfig, state: TrainingState, *, phantoms_generated: int, elapsed_s: float,
                    command: str, init: LoadedModel | None = None) -> dict:
    """The manifest's ``training`` entry: command, data, configuration, epochs, time, code revision."""
    record = {
        "command": command,
        "data": data_description(config),
        "config": dataclasses.asdict(config),
        "iterations": state.iteration,
        "samples_seen": state.iteration * config.batch_size,
        "phantoms_generated": phantoms_generated,
        "time_s": round(elapsed_s, 1),
        "cpu_time_s": round(cpu_time_s(), 1),
        "best_iteration": state.best_iteration,
        "epochs": state.epoch_log(),
        "torch": torch.__version__,
        "code_revision": code_revision(),
        "threads": config.threads,
        "device": state.device,
    }
    if init is not None:
        record["initialised_from"] = {
            "file": init.weights_path.name, "sha256": init.manifest.weights_sha256,
            "training": {k: init.manifest.training.get(k) for k in ("command", "iterations", "time_s", "data",
                                                                    "status", "code_revision", "initialised_from")},
            "validation_dice": init.manifest.accuracy.get("validation_dice")}
    return record


def save_provisional(out_path: Path, state: TrainingState, config: TrainConfig, params: UNet3DParams,
                     command: str, scores: dict) -> None:
    """Write the best network so far, so that an interrupted run still leaves a usable, labelled model."""
    provisional = {"command": command, "status": "provisional checkpoint of a run in progress",
                   "iterations": state.iteration, "elapsed_s": state.epochs[-1].elapsed_s if state.epochs else 0.0,
                   "epochs": state.epoch_log()}
    save_model_package(out_path, state.best_weights, build_manifest(config, params, provisional,
                                                                    {"validation_dice": scores}))


def code_revision() -> str:
    """Git commit of the source tree that ran the training (phantom and network code), if known."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def cpu_time_s() -> float:
    """CPU seconds used by this process and its finished children (the phantom generators)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def initial_weights(init: LoadedModel | None, params: UNet3DParams) -> dict | None:
    """Weights of `init` after checking that they fit `params` (raises ModelError otherwise)."""
    from ..errors import ModelError

    if init is None:
        return None
    m = init.manifest
    old = UNet3DParams.from_dict(dict(m.architecture_params)) if m.architecture == "unet3d" else None
    if old is None or dataclasses.replace(old, coord_box_vox=params.coord_box_vox) != params \
            or old.coord_box_vox not in (0, params.coord_box_vox):
        raise ModelError(f"--init {init.weights_path}: its architecture {m.architecture} {m.architecture_params} "
                         f"does not match this run's unet3d {params.to_dict()}; use the same --base-channels, "
                         "--levels and norm")
    state = dict(init.tensors)
    if params.coord_box_vox and not old.coord_box_vox:
        state = add_coordinate_inputs(state)
    return state


def add_coordinate_inputs(state: dict) -> dict:
    """Weights of an image-only U-Net widened to take the three coordinate channels, with zero weights.

    The widened network computes exactly what the original did until training gives the new
    inputs a use, so a coordinate model can start from an image-only one.
    """
    key = "encoders.0.0.weight"
    weight = torch.as_tensor(state[key])
    out = dict(state)
    out[key] = torch.cat([weight, weight.new_zeros((weight.shape[0], 3, *weight.shape[2:]))], dim=1)
    return out
