"""The segmentation model: package format, devices, network and box predictors.

Importing this package is light; torch is imported by the submodules that need it.
"""
from __future__ import annotations

__all__ = [
    "ModelManifest", "LoadedModel", "load_model_package", "save_model_package",
    "resolve_device", "build_predictor", "register_architecture", "BoxPredictor", "default_model_path",
]

from pathlib import Path

from .package import LoadedModel, ModelManifest, load_model_package, save_model_package

#: Name of the bundled model (Resources/Models/<name>.safetensors + .json).
DEFAULT_MODEL_NAME = "innerear_unet3d_v1"


def default_model_path() -> Path:
    """Path of the bundled model's weights in the source tree (``Resources/Models``)."""
    return Path(__file__).resolve().parents[2] / "Resources" / "Models" / f"{DEFAULT_MODEL_NAME}.safetensors"


def __getattr__(name: str):
    if name == "resolve_device":
        from .device import resolve_device

        return resolve_device
    if name in ("build_predictor", "register_architecture", "BoxPredictor"):
        from . import predictor

        return getattr(predictor, name)
    raise AttributeError(name)
