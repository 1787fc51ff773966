"""Validation: Dice per structure of a network on whole boxes, with and without post-processing."""
from __future__ import annotations

import numpy as np
import torch

from ..labels import STRUCTURES
from ..model.intensity import DEFAULT_NORMALISATION, normalise_hu
from ..model.unet3d import UNet3D
from ..postprocess import PostprocessOptions, postprocess
from .config import CLASS_NAMES


def dice_per_structure(pred: np.ndarray, truth: np.ndarray, n_classes: int = len(CLASS_NAMES)) -> dict[str, float]:
    """Dice per structure key (NaN where the structure is absent in both) and for the whole labyrinth."""
    from ..evaluate.metrics import dice

    out = {CLASS_NAMES[value]: dice(pred == value, truth == value) for value in range(1, n_classes)}
    out["labyrinth"] = dice(pred > 0, truth > 0)
    return out


def mean_dice(dicts: list[dict]) -> dict[str, float]:
    keys = dicts[0].keys()
    return {k: round(float(np.nanmean([d[k] for d in dicts])), 4) for k in keys}


def predict_probs(net: UNet3D, hu: np.ndarray) -> np.ndarray:
    device = next(net.parameters()).device
    x = torch.from_numpy(normalise_hu(hu, DEFAULT_NORMALISATION))[None, None].to(device)
    with torch.inference_mode():
        return torch.softmax(net(x).float(), dim=1)[0].cpu().numpy()


def validate(net: UNet3D, samples: list[tuple[np.ndarray, np.ndarray]], *, spacing_mm: float,
             postprocessing: dict[str, PostprocessOptions] | None = None) -> dict[str, dict[str, float]]:
    """Mean Dice per structure on validation samples, for the raw argmax and each post-processing variant.

    `samples` are ``(hu, labels)`` pairs on the box grid (phantom validation seeds, or a user's labelled
    ears from :func:`~InnerEarSegLib.training.sources.labelled_ears`); the network runs on its own device.
    """
    was_training = net.training
    net.eval()
    results: dict[str, list] = {"argmax": []}
    for name in postprocessing or {}:
        results[name] = []
    for hu, truth in samples:
        probs = predict_probs(net, hu.astype(np.float32))
        results["argmax"].append(dice_per_structure(np.argmax(probs, axis=0), truth, probs.shape[0]))
        for name, options in (postprocessing or {}).items():
            labels = postprocess(probs, options=options, spacing_mm=spacing_mm)
            results[name].append(dice_per_structure(labels, truth, probs.shape[0]))
    net.train(was_training)
    return {name: mean_dice(values) for name, values in results.items()}


def structure_mean(dice: dict[str, float]) -> float:
    return float(np.nanmean([dice[s.key] for s in STRUCTURES]))
