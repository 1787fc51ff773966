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
    """The bundled model's weights, ``Resources/Models/<DEFAULT_MODEL_NAME>.safetensors`` (manifest beside it).

    Looked for beside the library: ``<repo>/Resources/Models`` in a source tree (and a Slicer extension
    installed in the same layout), ``<repo>/InnerEarSeg/Resources/Models``, ``InnerEarSegLib/Resources/Models``.

    Raises
    ------
    ModelError : when no folder holds it (the message lists where it looked and what to do).
    """
    from ..errors import ModelError

    lib = Path(__file__).resolve().parents[1]
    folders = [lib.parent / "Resources" / "Models", lib.parent / "InnerEarSeg" / "Resources" / "Models",
               lib / "Resources" / "Models"]
    for folder in folders:
        weights = folder / f"{DEFAULT_MODEL_NAME}.safetensors"
        if weights.is_file():
            return weights
    raise ModelError(f"the bundled model {DEFAULT_MODEL_NAME}.safetensors was not found in any of "
                     f"{[str(f) for f in folders]}; reinstall InnerEarSeg or pass --model PATH")


def __getattr__(name: str):
    if name == "resolve_device":
        from .device import resolve_device

        return resolve_device
    if name in ("build_predictor", "register_architecture", "BoxPredictor"):
        from . import predictor

        return getattr(predictor, name)
    raise AttributeError(name)
