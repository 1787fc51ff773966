"""Training of the bundled U-Net on synthetic phantom ear boxes, within a wall-clock budget.

Data: each sample is one ear box (CT in HU, labels 0-5) from a *sample source*, by default
:class:`PhantomSource`, which calls :func:`InnerEarSegLib.phantom.generate_roi` with a side,
protocol (MDCT or cone-beam) and pathologies drawn from the sample's seed. Seeds are split:
evaluation 0-89999, validation 90000-90099, training >= 100000, so the evaluation set is never
seen. Generated samples live in a pool that a background process keeps refreshing; each
iteration draws a random pool sample (by default the whole box, as the network sees at inference: its
instance normalisation takes statistics from its input, so training on smaller crops shifts the
boundaries it draws on a whole box; with ``crop_vox`` below the box, half the crops are placed around a
structure drawn uniformly) and adds intensity, gamma, noise and blur jitter.

Loss: cross-entropy (canal classes weighted up, they are the smallest and the last learned) + soft
Dice over the structure classes present in the batch; Adam with a learning rate that warms up over
the first iterations and then decays with elapsed time. By default the network also sees each
voxel's position in the ear box (``UNet3DParams.coord_box_vox``), which tells the three canals
apart. A fresh network starts with its head bias at the log class shares of the first pool. The
best network by mean validation Dice (fixed validation seeds, whole boxes) is saved as a model
package each time it improves, and at the end with the manifest recording the command, the
per-epoch log, the time taken and the final validation Dice.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing as mp
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .box import BoxSpec
from .labels import BACKGROUND_CLASS, CANALS, STRUCTURES, Side
from .model.device import parse_device, resolve_device, torch_threads
from .model.intensity import DEFAULT_NORMALISATION, normalise_hu
from .model.package import LoadedModel, ModelManifest, save_model_package
from .model.unet3d import UNet3D, UNet3DParams
from .postprocess import PostprocessOptions, postprocess

log = logging.getLogger(__name__)

TRAIN_SEED_START = 100_000
VALIDATION_SEED_START = 90_000
VALIDATION_SEED_STOP = 90_100
CLASS_NAMES = (BACKGROUND_CLASS,) + tuple(s.key for s in STRUCTURES)


class SampleSource(Protocol):
    """Makes one training sample from a seed: ``(hu_zyx float32, labels_zyx uint8 0-5)`` on the box grid."""

    def __call__(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        ...


@dataclass(frozen=True)
class PhantomSource:
    """Phantom ear boxes from :func:`InnerEarSegLib.phantom.generate_roi`; every choice is drawn from the seed.

    Side, protocol and pathology as before; the anatomy is ``calibrated`` (ranges calibrated to real
    labyrinths, elastic deformation) with probability `calibrated_fraction`, else ``classic``; the
    appearance is ``randomised`` (random tissue intensities, acquisition, artefacts, distractors) with
    probability `randomised_fraction`, else the renderer's own HU; the box centre is off the labyrinth
    centre by a uniform draw in +-`centre_offset_mm` per axis, so structure names cannot be read off
    the box position alone. All-zero fractions and ``centre_offset_mm=3`` give model 2.0.0's data.
    """

    spec: BoxSpec = field(default_factory=BoxSpec)
    cbct_fraction: float = 0.35
    pathology_rate: float = 0.25
    calibrated_fraction: float = 0.0
    randomised_fraction: float = 0.0
    centre_offset_mm: float | None = None

    def choices(self, seed: int) -> dict:
        rng = np.random.default_rng([seed, 7])
        side = Side.LEFT if rng.random() < 0.5 else Side.RIGHT
        protocol = "cbct" if rng.random() < self.cbct_fraction else "mdct"
        pathologies: tuple[str, ...] = ()
        available = _available_pathologies()
        if available and rng.random() < self.pathology_rate:
            pathologies = (str(rng.choice(available)),)
        choice = {"side": side, "protocol": protocol, "pathologies": pathologies}
        # Drawn from a second stream so the first three choices of a seed do not depend on these options.
        more = np.random.default_rng([seed, 8])
        choice["anatomy"] = "calibrated" if more.random() < self.calibrated_fraction else "classic"
        choice["appearance"] = "randomised" if more.random() < self.randomised_fraction else "classic"
        offset = more.uniform(-1.0, 1.0, 3)
        choice["centre_offset_mm"] = (None if self.centre_offset_mm is None
                                      else tuple(float(v) for v in offset * self.centre_offset_mm))
        return choice

    def __call__(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        import SimpleITK as sitk

        c = self.choices(seed)
        ct, labels, _ = _generate_roi()(seed, c["side"], spec=self.spec, protocol=c["protocol"],
                                     pathologies=c["pathologies"], centre_offset_mm=c["centre_offset_mm"],
                                     anatomy=c["anatomy"], appearance=c["appearance"])
        return (sitk.GetArrayFromImage(ct).astype(np.float32),
                sitk.GetArrayFromImage(labels).astype(np.uint8))


def _generate_roi():
    """The phantom's ``generate_roi`` (falls back to its defining module if the package facade fails)."""
    import importlib

    try:
        from .phantom import generate_roi
    except (ImportError, RecursionError):
        generate_roi = importlib.import_module(f"{__package__}.phantom.generate").generate_roi
    return generate_roi


def _available_pathologies() -> tuple[str, ...]:
    try:
        from .phantom.pathology import PATHOLOGIES as names
    except ImportError:
        return ()
    return tuple(sorted(names)) if names else ()


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train` (all sizes in voxels of the box grid, times in minutes)."""

    minutes: float = 60.0
    seed: int = 0
    base_channels: int = 6
    levels: int = 4
    norm: str = "instance"
    coordinates: bool = True
    canal_weight: float = 3.0
    batch_size: int = 1
    crop_vox: int = 96
    learning_rate: float = 2e-3
    foreground_crops: float = 0.5
    warmup_iterations: int = 50
    n_validation: int = 12
    validate_every_minutes: float = 5.0
    pool_size: int = 128
    pool_fill_minutes: float = 1.0
    pool_workers: int = 1
    worker_duty: float = 0.25
    pool_refresh: bool = True
    cbct_fraction: float = 0.35
    pathology_rate: float = 0.25
    calibrated_fraction: float = 0.8
    randomised_fraction: float = 0.6
    centre_offset_mm: float | None = 5.0
    device: str = "auto"
    max_iterations: int | None = None
    threads: int = 2
    box_size_vox: int = 96
    spacing_mm: float = 0.3
    name: str = "innerear_unet3d_v1"
    version: str = "1.0.0"

    def __post_init__(self) -> None:
        if not self.minutes > 0:
            raise ValueError(f"minutes must be > 0, got {self.minutes!r}")
        factor = 2 ** (self.levels - 1)
        if self.crop_vox % factor or self.box_size_vox % factor or self.crop_vox > self.box_size_vox:
            raise ValueError(f"crop_vox ({self.crop_vox}) and box_size_vox ({self.box_size_vox}) must be divisible "
                             f"by {factor} (2**(levels-1)) and crop_vox <= box_size_vox")
        if not 1 <= self.n_validation <= VALIDATION_SEED_STOP - VALIDATION_SEED_START:
            raise ValueError(f"n_validation must be in 1..100, got {self.n_validation}")
        if not 0.0 < self.worker_duty <= 1.0:
            raise ValueError(f"worker_duty must be in (0, 1], got {self.worker_duty!r}")
        if not self.canal_weight > 0:
            raise ValueError(f"canal_weight must be > 0, got {self.canal_weight!r}")
        if self.warmup_iterations < 0:
            raise ValueError(f"warmup_iterations must be >= 0, got {self.warmup_iterations!r}")
        if not 0.0 <= self.foreground_crops <= 1.0:
            raise ValueError(f"foreground_crops must be in [0, 1], got {self.foreground_crops!r}")
        for name in ("calibrated_fraction", "randomised_fraction", "cbct_fraction", "pathology_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.centre_offset_mm is not None and not 0.0 <= self.centre_offset_mm <= 8.0:
            raise ValueError(f"centre_offset_mm must be in [0, 8] mm (the labyrinth must stay in the box), "
                             f"got {self.centre_offset_mm!r}")
        parse_device(self.device)
        if self.pool_size < self.batch_size:
            raise ValueError(f"pool_size ({self.pool_size}) must be >= batch_size ({self.batch_size})")

    @property
    def spec(self) -> BoxSpec:
        return BoxSpec(size_vox=self.box_size_vox, spacing_mm=self.spacing_mm)

    @property
    def params(self) -> UNet3DParams:
        """The network this configuration trains."""
        return UNet3DParams(n_classes=len(CLASS_NAMES), base_channels=self.base_channels, levels=self.levels,
                            norm=self.norm, coord_box_vox=self.box_size_vox if self.coordinates else 0)

    @property
    def class_weights(self) -> tuple[float, ...]:
        """Cross-entropy weight per class: 1 for background, cochlea and vestibule, `canal_weight` for the canals."""
        canals = {s.key for s in CANALS}
        return tuple(self.canal_weight if name in canals else 1.0 for name in CLASS_NAMES)

    @property
    def validation_seeds(self) -> list[int]:
        return list(range(VALIDATION_SEED_START, VALIDATION_SEED_START + self.n_validation))

    def training_seed(self, k: int) -> int:
        """The k-th training phantom seed of this run (disjoint from validation and evaluation)."""
        return TRAIN_SEED_START + self.seed * 10_000_000 + k


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did: the written manifest, iterations, seconds and validation Dice per structure."""

    manifest: ModelManifest
    iterations: int
    time_s: float
    validation_dice: dict
    path: Path


# ----------------------------------------------------------------------------- data

def _worker_loop(source: SampleSource, seeds: list[int], out: "mp.Queue", stop: "mp.Event", duty: float) -> None:
    """Background process: generate samples for `seeds` (in order) until told to stop.

    Sleeps between samples so that it uses about `duty` of one core, leaving the rest to training.
    """
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    torch.set_num_threads(1)
    i = 0
    while not stop.is_set():
        seed = seeds[i % len(seeds)]
        i += 1
        t0 = time.monotonic()
        hu, labels = source(seed)
        stop.wait((time.monotonic() - t0) * (1.0 / duty - 1.0))
        while not stop.is_set():
            try:
                out.put((seed, hu.astype(np.int16), labels), timeout=1.0)
                break
            except queue.Full:
                continue


class SamplePool:
    """Samples kept in memory (HU as int16); a background process replaces random entries with new phantoms."""

    def __init__(self, source: SampleSource, seeds: Iterator[int], *, size: int, workers: int, refresh: bool,
                 duty: float = 1.0) -> None:
        self.source = source
        self._seeds = seeds
        self.items: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.generated = 0
        self._procs: list = []
        self._queue = None
        self._stop = None
        self._size = size
        self._workers = workers if refresh else 0
        self._duty = duty

    def fill(self, *, deadline: float) -> None:
        """Generate the initial pool in-process (stops early at `deadline`, keeping at least one batch)."""
        while len(self.items) < self._size and (time.monotonic() < deadline or len(self.items) < 2):
            seed = next(self._seeds)
            hu, labels = self.source(seed)
            self.items.append((seed, hu.astype(np.int16), labels))
            self.generated += 1

    def start_workers(self) -> None:
        if self._workers <= 0:
            return
        ctx = mp.get_context("spawn")
        self._queue = ctx.Queue(maxsize=4)
        self._stop = ctx.Event()
        for _ in range(self._workers):
            seeds = [next(self._seeds) for _ in range(20_000)]
            proc = ctx.Process(target=_worker_loop, args=(self.source, seeds, self._queue, self._stop, self._duty),
                               daemon=True)
            proc.start()
            self._procs.append(proc)

    def refresh(self, rng: np.random.Generator) -> None:
        """Swap in whatever the workers produced since the last call."""
        if self._queue is None:
            return
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if len(self.items) < self._size:
                self.items.append(item)
            else:
                self.items[int(rng.integers(len(self.items)))] = item
            self.generated += 1

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        self._procs = []


def augment_hu(hu: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Intensity jitter on a HU array: scale/shift, gamma, Gaussian noise and an occasional blur."""
    from scipy import ndimage

    x = hu.astype(np.float32) * rng.uniform(0.85, 1.15) + rng.uniform(-120.0, 120.0)
    if rng.random() < 0.5:
        lo, hi = -1000.0, 3000.0
        t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        x = lo + (hi - lo) * t ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.3:
        x = ndimage.gaussian_filter(x, sigma=rng.uniform(0.3, 0.9))
    if rng.random() < 0.5:
        x = x + rng.normal(0.0, rng.uniform(10.0, 80.0), x.shape).astype(np.float32)
    return x


def crop_origin_vox(labels: np.ndarray, crop_vox: int, rng: np.random.Generator,
                    foreground: float) -> tuple[int, int, int]:
    """First voxel (z, y, x) of a cubic crop of edge `crop_vox` inside the label box.

    With probability `foreground` the crop is placed around one voxel of a structure drawn
    uniformly among the structures present (so each thin canal is drawn as often as the cochlea),
    shifted by up to a quarter crop so the structure is not always at the centre; otherwise the
    origin is uniform in the box.
    """
    n = labels.shape
    if rng.random() < foreground:
        present = np.flatnonzero(np.bincount(labels.ravel(), minlength=len(CLASS_NAMES))[1:]) + 1
        if present.size:
            voxels = np.flatnonzero(labels == rng.choice(present))
            centre = np.unravel_index(int(voxels[int(rng.integers(voxels.size))]), n)
            jitter = rng.integers(-(crop_vox // 4), crop_vox // 4 + 1, size=3)
            return tuple(int(np.clip(c - crop_vox // 2 + j, 0, size - crop_vox))
                         for c, j, size in zip(centre, jitter, n))
    return tuple(int(rng.integers(0, size - crop_vox + 1)) for size in n)


def _batch(pool: SamplePool, config: TrainConfig,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crops: images ``(B, 1, c, c, c)``, labels ``(B, c, c, c)`` and crop offsets in the box ``(B, 3)``."""
    images, targets, offsets = [], [], []
    c = config.crop_vox
    for _ in range(config.batch_size):
        _, hu, labels = pool.items[int(rng.integers(len(pool.items)))]
        z, y, x = crop_origin_vox(labels, c, rng, config.foreground_crops)
        sl = (slice(z, z + c), slice(y, y + c), slice(x, x + c))
        images.append(normalise_hu(augment_hu(hu[sl], rng), DEFAULT_NORMALISATION))
        targets.append(labels[sl].astype(np.int64))
        offsets.append((z, y, x))
    return (torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(targets)),
            torch.tensor(offsets, dtype=torch.float32))


# ----------------------------------------------------------------------------- loss and metrics

def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor,
                 class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted cross-entropy + (1 - soft Dice averaged over the foreground classes present in `target`).

    Classes absent from the batch are left out of the Dice mean: a smoothed Dice of an absent class
    only rewards predicting nothing. Their false positives are still penalised by the cross-entropy.
    """
    ce = F.cross_entropy(logits, target, weight=class_weights)
    probs = torch.softmax(logits, dim=1)[:, 1:]
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 4, 1, 2, 3)[:, 1:].float()
    dims = (0, 2, 3, 4)
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    present = onehot.sum(dims) > 0
    if not bool(present.any()):
        return ce
    dice = (2 * inter[present] + 1.0) / (denom[present] + 1.0)
    return ce + (1.0 - dice.mean())


def dice_per_structure(pred: np.ndarray, truth: np.ndarray, n_classes: int = len(CLASS_NAMES)) -> dict[str, float]:
    """Dice per structure key (NaN where the structure is absent in both) and for the whole labyrinth."""
    from .evaluate.metrics import dice

    out = {CLASS_NAMES[value]: dice(pred == value, truth == value) for value in range(1, n_classes)}
    out["labyrinth"] = dice(pred > 0, truth > 0)
    return out


def _mean_dicts(dicts: list[dict]) -> dict[str, float]:
    keys = dicts[0].keys()
    return {k: round(float(np.nanmean([d[k] for d in dicts])), 4) for k in keys}


def _predict_probs(net: UNet3D, hu: np.ndarray) -> np.ndarray:
    device = next(net.parameters()).device
    x = torch.from_numpy(normalise_hu(hu, DEFAULT_NORMALISATION))[None, None].to(device)
    with torch.inference_mode():
        return torch.softmax(net(x).float(), dim=1)[0].cpu().numpy()


def validate(net: UNet3D, samples: list[tuple[np.ndarray, np.ndarray]], *, spacing_mm: float,
             postprocessing: dict[str, PostprocessOptions] | None = None) -> dict[str, dict[str, float]]:
    """Mean Dice per structure on validation samples, for the raw argmax and each post-processing variant."""
    was_training = net.training
    net.eval()
    results: dict[str, list] = {"argmax": []}
    for name in postprocessing or {}:
        results[name] = []
    for hu, truth in samples:
        probs = _predict_probs(net, hu.astype(np.float32))
        results["argmax"].append(dice_per_structure(np.argmax(probs, axis=0), truth, probs.shape[0]))
        for name, options in (postprocessing or {}).items():
            labels = postprocess(probs, options=options, spacing_mm=spacing_mm)
            results[name].append(dice_per_structure(labels, truth, probs.shape[0]))
    net.train(was_training)
    return {name: _mean_dicts(values) for name, values in results.items()}


def _structure_mean(dice: dict[str, float]) -> float:
    return float(np.nanmean([dice[s.key] for s in STRUCTURES]))


# ----------------------------------------------------------------------------- training loop



def _manifest(config: TrainConfig, params: UNet3DParams, training: dict, accuracy: dict) -> ModelManifest:
    return ModelManifest(
        name=config.name, version=config.version, architecture="unet3d", architecture_params=params.to_dict(),
        labels=dict(enumerate(CLASS_NAMES[: params.n_classes])), spacing_mm=config.spacing_mm,
        box_size_vox=config.box_size_vox, normalisation=dict(DEFAULT_NORMALISATION), training=training,
        accuracy=accuracy)


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
        Sample generator; default :class:`PhantomSource` with the config's protocol/pathology rates.
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
    initial = _initial_state(init, params)
    if config.crop_vox < config.box_size_vox:
        log.warning("training on %d^3 crops of the %d^3 box: instance normalisation then sees other statistics in "
                    "training than on the whole box it segments, which over-segments thin structures (measured: "
                    "lateral canal 1.16x its volume on whole boxes, 0.97x on 64^3 crops); --crop %d avoids it",
                    config.crop_vox, config.box_size_vox, config.box_size_vox)
    with torch_threads(config.threads):
        log.info("generating %d validation samples (seeds %d-%d)", config.n_validation,
                 config.validation_seeds[0], config.validation_seeds[-1])
        val_samples = [source(s) for s in config.validation_seeds]
        seeds = (config.training_seed(k) for k in range(10**9))
        pool = SamplePool(source, seeds, size=config.pool_size, workers=config.pool_workers,
                          refresh=config.pool_refresh, duty=config.worker_duty)
        pool.fill(deadline=clock() + 60.0 * min(config.pool_fill_minutes, 0.25 * config.minutes))
        log.info("pool of %d samples ready after %.0f s", len(pool.items), clock() - start)
        pool.start_workers()
        try:
            state = _train_loop(config, params, pool, val_samples, rng, start, deadline, clock, out_path, command,
                                initial)
        finally:
            pool.stop()
        net = UNet3D(params)
        net.load_state_dict(state["best_state"])
        net.to(resolve_device(config.device))
        final = validate(net, val_samples, spacing_mm=config.spacing_mm, postprocessing={
            "paper_postprocess": PostprocessOptions(),
            "no_gaussian_postprocess": PostprocessOptions(gaussian=False)})
    elapsed = clock() - start
    training = _training_record(config, state, pool, elapsed, command)
    if init is not None:
        training["initialised_from"] = {
            "file": init.weights_path.name, "sha256": init.manifest.weights_sha256,
            "training": {k: init.manifest.training.get(k) for k in ("command", "iterations", "time_s", "data",
                                                                    "status", "code_revision", "initialised_from")},
            "validation_dice": init.manifest.accuracy.get("validation_dice")}
    accuracy = {
        "validation_seeds": [config.validation_seeds[0], config.validation_seeds[-1]],
        "validation_dice": final["argmax"],
        "validation_dice_paper_postprocess": final["paper_postprocess"],
        "validation_dice_no_gaussian_postprocess": final["no_gaussian_postprocess"],
        "measured_on": f"{config.n_validation} synthetic phantom ear boxes (validation seeds), whole 96^3 boxes",
        "note": "synthetic phantoms only; not a clinical accuracy",
    }
    manifest = save_model_package(out_path, state["best_state"], _manifest(config, params, training, accuracy))
    log.info("done in %.0f s, %d iterations; validation Dice %s", elapsed, state["iteration"], final["argmax"])
    return TrainResult(manifest, state["iteration"], elapsed, final["argmax"], out_path)


def _training_record(config: TrainConfig, state: dict, pool: SamplePool, elapsed: float, command: str) -> dict:
    return {
        "command": command,
        "data": ("synthetic phantom ear boxes from InnerEarSegLib.phantom.generate_roi (left and right ears, "
                 f"MDCT and cone-beam CT with cbct fraction {config.cbct_fraction}, pathologies at rate "
                 f"{config.pathology_rate}, calibrated anatomy at rate {config.calibrated_fraction}, randomised "
                 f"appearance at rate {config.randomised_fraction}, box centre offset "
                 f"{'+-3 mm (generator default)' if config.centre_offset_mm is None else f'+-{config.centre_offset_mm} mm per axis'}"
                 f"); training seeds from {config.training_seed(0)}, validation seeds "
                 f"{config.validation_seeds[0]}-{config.validation_seeds[-1]}; seeds 0-89999 never used"),
        "config": dataclasses.asdict(config),
        "iterations": state["iteration"],
        "samples_seen": state["iteration"] * config.batch_size,
        "phantoms_generated": pool.generated,
        "time_s": round(elapsed, 1),
        "cpu_time_s": round(_cpu_time_s(), 1),
        "best_iteration": state["best_iteration"],
        "epochs": state["epochs"],
        "torch": torch.__version__,
        "code_revision": _code_revision(),
        "threads": config.threads,
        "device": state.get("device", "cpu"),
    }


def _code_revision() -> str:
    """Git commit of the source tree that ran the training (phantom and network code), if known."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _cpu_time_s() -> float:
    """CPU seconds used by this process and its finished children (the phantom generators)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _initial_state(init, params: UNet3DParams) -> dict | None:
    """Weights of `init` after checking that they fit `params` (raises ModelError otherwise)."""
    from .errors import ModelError

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


def _cpu_state(net: UNet3D) -> dict:
    """A copy of the network's weights on the CPU (what the model package stores)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def _train_loop(config, params, pool, val_samples, rng, start, deadline, clock, out_path, command,
                initial=None) -> dict:
    device = resolve_device(config.device)
    net = UNet3D(params)
    if initial is not None:
        net.load_state_dict(initial)
    else:
        set_head_bias_to_prior(net, [labels for _, _, labels in pool.items])
    net.to(device).train()
    log.info("training on %s", device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    class_weights = torch.tensor(config.class_weights, dtype=torch.float32, device=device)
    state = {"iteration": 0, "best": -1.0, "best_state": _cpu_state(net), "best_iteration": 0,
             "epochs": [], "device": str(device)}
    loop_start = clock()
    next_validation = loop_start + 60.0 * config.validate_every_minutes
    reserve = 0.0  # seconds kept for the final validation (measured by the first one)
    losses: list[float] = []
    while True:
        now = clock()
        done = config.max_iterations is not None and state["iteration"] >= config.max_iterations
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
            group["lr"] = learning_rate_at(config, state["iteration"], fraction)
        images, targets, offsets = (t.to(device, non_blocking=True) for t in _batch(pool, config, rng))
        # bfloat16 autocast on CUDA (the loss in float32); the CPU trains in float32.
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = net(images, offsets)
        loss = dice_ce_loss(logits.float(), targets, class_weights)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        state["iteration"] += 1
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"training loss became {losses[-1]} at iteration {state['iteration']}")


def class_prior(label_boxes: list[np.ndarray], n_classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """Share of voxels of each class (0 = background) over `label_boxes`, floored at 1e-4 and summing to 1."""
    counts = sum(np.bincount(labels.ravel(), minlength=n_classes)[:n_classes].astype(np.float64)
                 for labels in label_boxes)
    prior = np.maximum(counts / max(1.0, counts.sum()), 1e-4)
    return prior / prior.sum()


def set_head_bias_to_prior(net: UNet3D, label_boxes: list[np.ndarray]) -> None:
    """Start a fresh network predicting the class shares of the training boxes (the head bias is their log).

    With a zero bias a fresh network calls most voxels foreground; the first steps then push
    every structure's output down so hard that a rare class (cochlea, a canal) can stay at
    zero for the rest of an hour's run (measured: cochlea and lateral canal never predicted
    after 888 iterations).
    """
    prior = class_prior(label_boxes, net.head.out_channels)
    with torch.no_grad():
        net.head.bias.copy_(torch.from_numpy(np.log(prior)).to(net.head.bias.dtype))


def learning_rate_at(config: TrainConfig, iteration: int, time_fraction: float) -> float:
    """Adam learning rate: linear warm-up over ``config.warmup_iterations``, then poly decay with elapsed time.

    The warm-up keeps the first Adam steps, which move every weight by about the full learning
    rate, from throwing a freshly initialised network into all-background or all-foreground.
    """
    warmup = min(1.0, (iteration + 1) / config.warmup_iterations) if config.warmup_iterations else 1.0
    return config.learning_rate * warmup * (1.0 - min(1.0, time_fraction)) ** 0.9 + 1e-5


def _record_epoch(state, net, scores, losses, elapsed, config, params, out_path, command) -> None:
    mean = _structure_mean(scores)
    epoch = {"epoch": len(state["epochs"]) + 1, "iteration": state["iteration"], "elapsed_s": round(elapsed, 1),
             "train_loss": round(float(np.mean(losses)), 4) if losses else None,
             "val_mean_dice": round(mean, 4), "val_dice": scores}
    state["epochs"].append(epoch)
    log.info("epoch %d: iteration %d, %.0f s, loss %s, validation mean Dice %.3f %s", epoch["epoch"],
             epoch["iteration"], elapsed, epoch["train_loss"], mean, scores)
    if mean > state["best"]:
        state["best"] = mean
        state["best_state"] = _cpu_state(net)
        state["best_iteration"] = state["iteration"]
        provisional = {"command": command, "status": "provisional checkpoint of a run in progress",
                       "iterations": state["iteration"], "elapsed_s": round(elapsed, 1), "epochs": state["epochs"]}
        save_model_package(out_path, state["best_state"],
                           _manifest(config, params, provisional, {"validation_dice": scores}))
