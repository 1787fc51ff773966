"""What each iteration trains on: a random pool sample, cropped (by default the whole box) and intensity-jittered."""
from __future__ import annotations

import numpy as np
import torch

from ..model.intensity import DEFAULT_NORMALISATION, normalise_hu
from .config import CLASS_NAMES, TrainConfig
from .pool import SamplePool


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


def make_batch(pool: SamplePool, config: TrainConfig,
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
