"""Shared helpers for the mpunet tests: the reference fixtures and synthetic mpunet project folders."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from InnerEarSegLib.mpunet.unet2d import unet_layer_specs

REPO = Path(__file__).resolve().parents[3]


def reference_fixtures_dir() -> Path | None:
    """``$INNEREARSEG_FIXTURES/mpunet`` or ``<repo>/../shared/fixtures/mpunet``, if present."""
    candidates = []
    if os.environ.get("INNEREARSEG_FIXTURES"):
        base = Path(os.environ["INNEREARSEG_FIXTURES"])
        candidates += [base / "mpunet", base]
    candidates.append(REPO.parent / "shared" / "fixtures" / "mpunet")
    for c in candidates:
        if (c / "unet_cf0.01_dim32_2cls.h5").is_file():
            return c
    return None


@pytest.fixture
def reference_dir() -> Path:
    found = reference_fixtures_dir()
    if found is None:
        pytest.skip("mpunet reference fixtures not found: set INNEREARSEG_FIXTURES or provide "
                    "<repo>/../shared/fixtures/mpunet (outputs of the original TensorFlow code)")
    return found


def write_keras_h5(path: Path, layers: list[tuple[str, dict]], *, empty_layers=("input_1",)) -> None:
    """Write ``layers`` [(name, {param: array})] in Keras' legacy ``save_weights`` layout."""
    import h5py

    with h5py.File(path, "w") as f:
        names = list(empty_layers) + [n for n, _ in layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.4.0"
        for name in empty_layers:
            f.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")
        for name, params in layers:
            g = f.create_group(name)
            weight_names = [f"{name}/{p}:0" for p in params]
            g.attrs["weight_names"] = np.array([w.encode() for w in weight_names])
            for w, array in zip(weight_names, params.values()):
                g.create_dataset(w, data=np.asarray(array, dtype=np.float32))


def random_unet_layers(*, n_classes=2, complexity_factor=0.01, depth=4, seed=0, auto_names=False):
    """Random Keras-layout U-Net weights (HWIO kernels, randomised BN statistics)."""
    rng = np.random.default_rng(seed)
    layers, n_conv, n_bn = [], 0, 0
    for s in unet_layer_specs(n_classes=n_classes, complexity_factor=complexity_factor, depth=depth):
        if s.kind == "conv":
            fan_in = s.kernel_size ** 2 * s.in_channels
            params = {"kernel": rng.normal(0, np.sqrt(2 / fan_in), (s.kernel_size, s.kernel_size, s.in_channels,
                                                                     s.out_channels)),
                      "bias": rng.normal(0, 0.05, s.out_channels)}
            name = f"conv2d_{n_conv + 1}" if auto_names else s.name
            n_conv += 1
        else:
            params = {"gamma": rng.uniform(0.8, 1.2, s.out_channels), "beta": rng.normal(0, 0.1, s.out_channels),
                      "moving_mean": rng.normal(0, 0.1, s.out_channels),
                      "moving_variance": rng.uniform(0.5, 1.5, s.out_channels)}
            name = f"batch_normalization_{n_bn + 1}" if auto_names else s.name
            n_bn += 1
        layers.append((name, params))
    return layers


def threshold_unet_layers(*, threshold: float, gain: float = 50.0, complexity_factor=0.01):
    """Hand-set U-Net weights whose class-1 logit is ``gain * (relu(x) - threshold)``.

    Channel 0 of the input runs through ``encoder_L0_conv1/2`` (centre tap 1), the skip tensor,
    ``upsample_L3_conv2/3`` and the 1x1 output conv; every other weight is zero and every BN is the
    identity (moving variance ``1 - eps``), so the deeper levels contribute nothing.
    """
    layers = []
    for s in unet_layer_specs(n_classes=2, complexity_factor=complexity_factor):
        if s.kind == "bn":
            layers.append((s.name, {"gamma": np.ones(s.out_channels), "beta": np.zeros(s.out_channels),
                                    "moving_mean": np.zeros(s.out_channels),
                                    "moving_variance": np.full(s.out_channels, 1 - 1e-3)}))
            continue
        kernel = np.zeros((s.kernel_size, s.kernel_size, s.in_channels, s.out_channels))
        bias = np.zeros(s.out_channels)
        if s.name in ("encoder_L0_conv1", "encoder_L0_conv2", "upsample_L3_conv2", "upsample_L3_conv3"):
            kernel[1, 1, 0, 0] = 1.0
        elif s.name == "conv2d":
            kernel[0, 0, 0, 1] = gain
            bias[1] = -gain * threshold
        layers.append((s.name, {"kernel": kernel, "bias": bias}))
    return layers


def write_project(root: Path, *, n_classes=2, dim=32, real_space_span=40.0, complexity_factor=0.01,
                  views=None, version="0.2.12", checkpoints=(("03", "0.71234"), ("07", "0.81234")),
                  fusion=True, seed=0, auto_names=False, layers=None) -> Path:
    """A MultiPlanarUNet project folder with random weights in the original file layout."""
    root.mkdir(parents=True, exist_ok=True)
    if views is None:
        rng = np.random.default_rng(seed)
        views = rng.normal(size=(6, 3))
        views[:, 2] = np.abs(views[:, 2])
        views /= np.linalg.norm(views, axis=1, keepdims=True)
    hp = {"build": {"model_class_name": "UNet", "n_classes": n_classes, "n_channels": 1, "dim": dim,
                    "complexity_factor": complexity_factor, "out_activation": "softmax",
                    "biased_output_layer": True, "depth": 4, "l2_reg": False},
          "fit": {"views": len(views), "real_space_span": real_space_span, "bg_value": "1pct",
                  "scaler": "RobustScaler", "intrp_style": "iso_live", "batch_size": 16},
          "__VERSION__": version}
    (root / "train_hparams.yaml").write_text(yaml.safe_dump(hp))
    np.savez(root / "views.npz", np.asarray(views, dtype=np.float64))
    model = root / "model"
    (model / "fusion_weights").mkdir(parents=True, exist_ok=True)
    for i, (epoch, score) in enumerate(checkpoints):
        stem = f"@epoch_{epoch}_val_dice_{score}"
        write_keras_h5(model / f"{stem}.h5", layers or random_unet_layers(
            n_classes=n_classes, seed=seed + i, complexity_factor=complexity_factor, auto_names=auto_names))
        if fusion:
            rng = np.random.default_rng(seed + 100 + i)
            write_keras_h5(model / "fusion_weights" / f"{stem}_fusion_weights.h5",
                           [("fusion_layer", {"W": rng.uniform(0.5, 1.5, (len(views), n_classes)),
                                              "b": rng.normal(0, 0.1, (1, n_classes))})], empty_layers=("input_2",))
    return root


@pytest.fixture
def helpers():
    """The writers above, for tests (conftest functions cannot be imported under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(write_project=write_project, write_keras_h5=write_keras_h5,
                           random_unet_layers=random_unet_layers, threshold_unet_layers=threshold_unet_layers)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests share a small machine: one intra-op thread avoids oversubscription; restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
