"""Shared test fixtures. Every test starts from the same random state: Python's, NumPy's global and torch's
(network init); the tiny model and the small CT are made once per session."""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk


@pytest.fixture(autouse=True)
def _seed_every_random_source():
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A very small U-Net package, initialised with torch.manual_seed(0): exercises loading and the real network
    path quickly, and every run predicts the same."""
    import torch

    from InnerEarSegLib.model.package import ModelManifest, save_model_package
    from InnerEarSegLib.model.unet3d import UNet3D, UNet3DParams

    params = UNet3DParams(n_classes=6, base_channels=2, levels=3)
    manifest = ModelManifest(name="tiny", version="0.0.7", architecture="unet3d",
                             architecture_params=dataclasses.asdict(params),
                             labels={0: "background", 1: "cochlea", 2: "vestibule", 3: "superior", 4: "lateral",
                                     5: "posterior"}, spacing_mm=0.3, box_size_vox=96,
                             normalisation={"method": "clip_zscore", "clip_hu": [-1000, 3000]})
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    torch.manual_seed(0)
    save_model_package(path, UNet3D(params).state_dict(), manifest)
    return path


@pytest.fixture(scope="session")
def small_ct(tmp_path_factory) -> Path:
    """A two-ear phantom CT (seed 21, 384 x 384 x 80) written as case21_ct.nrrd."""
    from InnerEarSegLib.phantom.generate import generate

    ct, _, _ = generate(21, matrix=384, slices=80)
    path = tmp_path_factory.mktemp("ct") / "case21_ct.nrrd"
    sitk.WriteImage(ct, str(path))
    return path
