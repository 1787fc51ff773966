"""Intensity normalisation of CT boxes, as named in a model manifest's ``normalisation`` entry.

Methods
-------
``clip_zscore`` (default)
    Clip HU to ``clip_hu`` and standardise by the box's own mean and standard deviation. The
    per-box statistics absorb the global grey-value differences between multidetector CT and
    cone-beam CT (dense bone ≈ 2000 HU vs ≈ 1000-1600).
``clip_scale``
    Clip HU to ``clip_hu`` and map it linearly to [0, 1].
"""
from __future__ import annotations

import numpy as np

DEFAULT_NORMALISATION = {"method": "clip_zscore", "clip_hu": [-1000.0, 3000.0]}
_METHODS = ("clip_zscore", "clip_scale")


def validate_normalisation(normalisation: dict) -> None:
    """Raise ValueError if `normalisation` is not a dict this module understands."""
    method = normalisation.get("method") if isinstance(normalisation, dict) else None
    if method not in _METHODS:
        raise ValueError(f"normalisation method must be one of {_METHODS}, got {normalisation!r}")
    lo, hi = (float(v) for v in normalisation.get("clip_hu", DEFAULT_NORMALISATION["clip_hu"]))
    if not hi > lo:
        raise ValueError(f"normalisation clip_hu must be [low, high] with high > low, got {[lo, hi]}")


def normalise_hu(hu: np.ndarray, normalisation: dict | None = None) -> np.ndarray:
    """Normalise a HU array for the network.

    Parameters
    ----------
    hu : ndarray, any shape
        Intensities in HU.
    normalisation : dict, optional
        ``{"method": ..., "clip_hu": [low, high]}``; default :data:`DEFAULT_NORMALISATION`.

    Returns
    -------
    ndarray of float32, same shape

    Examples
    --------
    >>> normalise_hu(np.array([-2000.0, 3000.0, 5000.0]), {"method": "clip_scale", "clip_hu": [-1000, 3000]})
    array([0., 1., 1.], dtype=float32)
    """
    normalisation = normalisation or DEFAULT_NORMALISATION
    validate_normalisation(normalisation)
    lo, hi = (float(v) for v in normalisation.get("clip_hu", DEFAULT_NORMALISATION["clip_hu"]))
    x = np.clip(np.asarray(hu, dtype=np.float32), lo, hi)
    if normalisation["method"] == "clip_scale":
        return ((x - lo) / (hi - lo)).astype(np.float32)
    mean = float(x.mean(dtype=np.float64))
    std = float(x.std(dtype=np.float64))
    return ((x - mean) / max(std, 1.0)).astype(np.float32)
