"""The training run: validation set, sample pool, the optimisation loop, the written model package.

Each iteration draws a random pool sample (by default the whole box, as the network sees at
inference: its instance normalisation takes statistics from its input, so training on smaller crops
shifts the boundaries it draws on a whole box) and adds intensity jitter. Loss: weighted cross-entropy
+ soft Dice (:mod:`.loss`); Adam with a warm-up and a poly decay over elapsed time. A fresh network
starts with its head bias at the log class shares of the first pool. The best network by mean
validation Dice is saved each time it improves, and at the end with the manifest recording the
command, the data, the per-epoch log, the time taken and the final validation Dice. Runs on the CPU
or on CUDA (bfloat16 autocast), whichever ``config.device`` names.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..model.device import resolve_device, torch_threads
from ..model.package import LoadedModel, ModelManifest, save_model_package
from ..model.unet3d import UNet3D, UNet3DParams
from ..postprocess import PostprocessOptions
from .augment import make_batch
from .checkpoint import build_manifest, initial_weights, save_provisional, training_record
from .config import TrainConfig
from .loss import dice_ce_loss, set_head_bias_to_prior
from .pool import SamplePool
from .sources import PhantomSource, SampleSource, labelled_ears
from .state import EpochRecord, TrainingState
from .validation import structure_mean, validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did: the written manifest, iterations, seconds and validation Dice per structure."""

    manifest: ModelManifest
    iterations: int
    time_s: float
    validation_dice: dict
    path: Path


def train(out_path: str | Path, config: TrainConfig, *, source: SampleSource | None = None, command: str = "",
          init: LoadedModel | None = None, clock: Callable[[], float] = time.monotonic) -> TrainResult:
    """Train the U-Net for ``config.minutes`` of wall clock and write the best model package to `out_path`.

    Parameters
    ----------
    out_path : path-like
        ``.safetensors`` file of the package (its ``.json`` manifest goes next to it). Rewritten each
        time the validation Dice improves, so an interrupted run still leaves a usable model.
    config : TrainConfig
    source : SampleSource, optional
        Sample generator; default :class:`PhantomSource` with the config's data options.
    command : str
        The command line, recorded in the manifest.
    init : LoadedModel, optional
        Start from this (verified) unet3d package instead of random weights; its architecture must
        match the config. Recorded in the manifest's ``training["initialised_from"]``.
    """
    out_path = Path(out_path)
    start = clock()
    deadline = start + 60.0 * config.minutes
    source = source or PhantomSource(config.spec, config.cbct_fraction, config.pathology_rate,
                                     config.calibrated_fraction, config.randomised_fraction,
                                     config.centre_offset_mm)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    params = config.params
    initial = initial_weights(init, params)
    device = resolve_device(config.device)
    if config.crop_vox < config.box_size_vox:
        log.warning("training on %d^3 crops of the %d^3 box: instance normalisation then sees other statistics in "
                    "training than on the whole box it segments, which over-segments thin structures (measured: "
                    "lateral canal 1.16x its volume on whole boxes, 0.97x on 64^3 crops); --crop %d avoids it",
                    config.crop_vox, config.box_size_vox, config.box_size_vox)
    with torch_threads(config.threads):
        val_samples, measured_on = _validation_set(config, source)
        seeds = (config.training_seed(k) for k in range(10**9))
        pool = SamplePool(source, seeds, size=config.pool_size, workers=config.pool_workers,
                          refresh=config.pool_refresh, duty=config.worker_duty)
        pool.fill(deadline=clock() + 60.0 * min(config.pool_fill_minutes, 0.25 * config.minutes))
        log.info("pool of %d samples ready after %.0f s", len(pool.items), clock() - start)
        pool.start_workers()
        try:
            state = _train_loop(config, params, device, pool, val_samples, rng, start, deadline, clock, out_path,
                                command, initial)
        finally:
            pool.stop()
        net = UNet3D(params)
        net.load_state_dict(state.best_weights)
        net.to(device)
        final = validate(net, val_samples, spacing_mm=config.spacing_mm, postprocessing={
            "paper_postprocess": PostprocessOptions(),
            "no_gaussian_postprocess": PostprocessOptions(gaussian=False)})
    elapsed = clock() - start
    training = training_record(config, state, phantoms_generated=pool.generated, elapsed_s=elapsed,
                               command=command, init=init)
    accuracy = {
        "validation_seeds": ([config.validation_seeds[0], config.validation_seeds[-1]]
                             if config.validation_cases is None else None),
        "validation_dice": final["argmax"],
        "validation_dice_paper_postprocess": final["paper_postprocess"],
        "validation_dice_no_gaussian_postprocess": final["no_gaussian_postprocess"],
        "measured_on": measured_on,
        "note": ("synthetic phantoms only; not a clinical accuracy" if config.validation_cases is None
                 else "the user's own labelled cases named in measured_on"),
    }
    manifest = save_model_package(out_path, state.best_weights, build_manifest(config, params, training, accuracy))
    log.info("done in %.0f s, %d iterations; validation Dice %s", elapsed, state.iteration, final["argmax"])
    return TrainResult(manifest, state.iteration, elapsed, final["argmax"], out_path)


def _validation_set(config: TrainConfig, source: SampleSource) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The samples the best network is chosen on, and what they are in words."""
    if config.validation_cases is not None:
        ears = labelled_ears(config.validation_cases, config.spec)
        log.info("validating on %d labelled ears from %s", len(ears), config.validation_cases)
        return ([(e.hu, e.labels) for e in ears],
                f"{len(ears)} labelled ears of the cases in {config.validation_cases} "
                f"({', '.join(sorted({e.case_id for e in ears}))}), whole {config.box_size_vox}^3 boxes")
    log.info("generating %d validation samples (seeds %d-%d)", config.n_validation,
             config.validation_seeds[0], config.validation_seeds[-1])
    return ([source(s) for s in config.validation_seeds],
            f"{config.n_validation} synthetic phantom ear boxes (validation seeds, drawn like the training data), "
            f"whole {config.box_size_vox}^3 boxes")


def _cpu_weights(net: UNet3D) -> dict[str, torch.Tensor]:
    """A copy of the network's weights on the CPU (what the model package stores)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _train_loop(config: TrainConfig, params: UNet3DParams, device: torch.device, pool: SamplePool, val_samples,
                rng: np.random.Generator, start: float, deadline: float, clock, out_path: Path, command: str,
                initial: dict | None = None) -> TrainingState:
    net = UNet3D(params)
    if initial is not None:
        net.load_state_dict(initial)
    else:
        set_head_bias_to_prior(net, [labels for _, _, labels in pool.items])
    net.to(device).train()
    log.info("training on %s", device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    class_weights = torch.tensor(config.class_weights, dtype=torch.float32, device=device)
    state = TrainingState(best_weights=_cpu_weights(net), device=str(device))
    loop_start = clock()
    next_validation = loop_start + 60.0 * config.validate_every_minutes
    reserve = 0.0  # seconds kept for the final validation (measured by the first one)
    losses: list[float] = []
    while True:
        now = clock()
        done = config.max_iterations is not None and state.iteration >= config.max_iterations
        if done or now >= deadline - reserve or now >= next_validation:
            t0 = clock()
            scores = validate(net, val_samples, spacing_mm=config.spacing_mm)["argmax"]
            reserve = max(reserve, 3.0 * (clock() - t0) + 10.0)
            _record_epoch(state, net, scores, losses, clock() - start, config, params, out_path, command)
            losses = []
            next_validation = clock() + 60.0 * config.validate_every_minutes
            if done or clock() >= deadline - reserve:
                return state
        pool.refresh(rng)
        fraction = min(1.0, (clock() - loop_start) / max(1.0, deadline - reserve - loop_start))
        for group in optimiser.param_groups:
            group["lr"] = learning_rate_at(config, state.iteration, fraction)
        images, targets, offsets = (t.to(device, non_blocking=True) for t in make_batch(pool, config, rng))
        # bfloat16 autocast on CUDA (the loss in float32); the CPU trains in float32.
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = net(images, offsets)
        loss = dice_ce_loss(logits.float(), targets, class_weights)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        state.iteration += 1
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"training loss became {losses[-1]} at iteration {state.iteration}")


def learning_rate_at(config: TrainConfig, iteration: int, time_fraction: float) -> float:
    """Adam learning rate: linear warm-up over ``config.warmup_iterations``, then poly decay with elapsed time.

    The warm-up keeps the first Adam steps, which move every weight by about the full learning
    rate, from throwing a freshly initialised network into all-background or all-foreground.
    """
    warmup = min(1.0, (iteration + 1) / config.warmup_iterations) if config.warmup_iterations else 1.0
    return config.learning_rate * warmup * (1.0 - min(1.0, time_fraction)) ** 0.9 + 1e-5


def _record_epoch(state: TrainingState, net: UNet3D, scores: dict, losses: list[float], elapsed: float,
                  config: TrainConfig, params: UNet3DParams, out_path: Path, command: str) -> None:
    mean = structure_mean(scores)
    epoch = EpochRecord(epoch=len(state.epochs) + 1, iteration=state.iteration, elapsed_s=round(elapsed, 1),
                        train_loss=round(float(np.mean(losses)), 4) if losses else None,
                        val_mean_dice=round(mean, 4), val_dice=scores)
    state.epochs.append(epoch)
    log.info("epoch %d: iteration %d, %.0f s, loss %s, validation mean Dice %.3f %s", epoch.epoch,
             epoch.iteration, elapsed, epoch.train_loss, mean, scores)
    if mean > state.best_mean_dice:
        state.best_mean_dice = mean
        state.best_weights = _cpu_weights(net)
        state.best_iteration = state.iteration
        save_provisional(out_path, state, config, params, command, scores)
