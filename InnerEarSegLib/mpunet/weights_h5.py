"""Read Keras legacy ``.h5`` weight files (``model.save_weights``) written by mpunet, with h5py.

Layout: the root attribute ``layer_names`` lists the layers in network order; each layer group
has a ``weight_names`` attribute and datasets at ``f[layer][weight_name]`` such as
``encoder_L0_conv1/kernel:0``. Files written before 2019 carry Keras' automatic names
(``conv2d_17``, ``batch_normalization_3``): those are mapped by their order in ``layer_names``.

Unlike mpunet (which loads by name and silently skips mismatches) every expected layer must be
found with the right kind and shape, and every weighted layer in the file must be used; anything
else raises :class:`~InnerEarSegLib.errors.ModelError` naming the file and the layer.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .unet2d import LayerSpec

log = logging.getLogger(__name__)

_CONV_PARAMS = ("kernel", "bias")
_BN_PARAMS = ("gamma", "beta", "moving_mean", "moving_variance")


@dataclass(frozen=True)
class KerasLayerWeights:
    """The arrays of one weighted Keras layer: ``params`` maps ``kernel``/``gamma``/... to arrays."""

    name: str
    params: dict


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_layers(path: str | Path) -> list[KerasLayerWeights]:
    """Weighted layers of a Keras legacy ``.h5`` weights file, in ``layer_names`` order.

    A layer group that holds the weights of several layers (a nested model, as multi-GPU
    checkpoints have) is split by the owner named in each weight name.

    Raises
    ------
    ModelError
        If the file cannot be read or is not a Keras weights file.
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read Keras weights file {path}: {exc}") from exc
    with f:
        root = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
        if "layer_names" not in root.attrs:
            raise ModelError(f"{path} is not a Keras weights file: no 'layer_names' attribute "
                             "(expected a file written by model.save_weights)")
        layers: list[KerasLayerWeights] = []
        for layer_name in (_text(n) for n in root.attrs["layer_names"]):
            if layer_name not in root:
                raise ModelError(f"{path}: layer '{layer_name}' is listed in layer_names but has no group")
            group = root[layer_name]
            owners: dict[str, dict] = {}
            for weight_name in (_text(n) for n in group.attrs.get("weight_names", [])):
                parts = weight_name.split("/")
                owner = parts[-2] if len(parts) >= 2 else layer_name
                param = parts[-1].split(":")[0]
                if weight_name not in group:
                    raise ModelError(f"{path}: layer '{layer_name}' lists weight '{weight_name}' "
                                     "but the dataset is missing")
                owners.setdefault(owner, {})[param] = np.asarray(group[weight_name], dtype=np.float32)
            layers += [KerasLayerWeights(o, p) for o, p in owners.items()]
    return layers


def _kind(layer: KerasLayerWeights) -> str:
    keys = set(layer.params)
    if keys == set(_CONV_PARAMS):
        return "conv"
    if keys == set(_BN_PARAMS):
        return "bn"
    return "unknown (" + ", ".join(sorted(keys)) + ")"


def _match_layers(layers: list[KerasLayerWeights], specs: list[LayerSpec], path: Path) -> list:
    by_name = {layer.name: layer for layer in layers}
    expected = [s.name for s in specs]
    if all(name in by_name for name in expected):
        extra = [layer.name for layer in layers if layer.name not in set(expected)]
        if extra:
            raise ModelError(f"{path}: weighted layer(s) {extra} do not exist in the U-Net built from "
                             "train_hparams.yaml (depth/n_classes/complexity_factor mismatch?); refusing "
                             "to ignore them")
        return [(s, by_name[s.name]) for s in specs]
    if len(layers) != len(specs):
        missing = [n for n in expected if n not in by_name]
        raise ModelError(
            f"{path}: the file has {len(layers)} weighted layers, the U-Net built from train_hparams.yaml "
            f"needs {len(specs)}; layers not found by name: {missing[:5]}{'...' if len(missing) > 5 else ''}")
    log.info("%s: layer names do not match mpunet's (pre-2019 automatic names); mapping %d layers by "
             "their order in layer_names", path, len(specs))
    return list(zip(specs, layers))


def unet_state_dict_from_h5(path: str | Path, specs: list[LayerSpec]) -> dict[str, np.ndarray]:
    """Convert the U-Net weights in ``path`` to a state dict of :class:`~.unet2d.MPUNet2D`.

    Conv kernels go from Keras HWIO to torch OIHW (``transpose(3, 2, 0, 1)``, no flip); BN maps
    gamma/beta/moving_mean/moving_variance to weight/bias/running_mean/running_var.

    Raises
    ------
    ModelError
        Naming the file and the layer on a missing/extra layer, a kind or a shape mismatch.
    """
    path = Path(path)
    state: dict[str, np.ndarray] = {}
    for spec, layer in _match_layers(read_keras_layers(path), specs, path):
        kind = _kind(layer)
        where = f"{path}: layer '{layer.name}'" + (f" (mapped to '{spec.name}')" if layer.name != spec.name else "")
        if kind != spec.kind:
            raise ModelError(f"{where} is {kind}, expected {spec.kind}")
        prefix = f"layers.{spec.name}."
        if spec.kind == "conv":
            want = (spec.kernel_size, spec.kernel_size, spec.in_channels, spec.out_channels)
            _check_shape(where, "kernel", layer.params["kernel"], want)
            _check_shape(where, "bias", layer.params["bias"], (spec.out_channels,))
            state[prefix + "weight"] = np.ascontiguousarray(layer.params["kernel"].transpose(3, 2, 0, 1))
            state[prefix + "bias"] = layer.params["bias"]
        else:
            for keras_name, torch_name in zip(_BN_PARAMS, ("weight", "bias", "running_mean", "running_var")):
                _check_shape(where, keras_name, layer.params[keras_name], (spec.out_channels,))
                state[prefix + torch_name] = layer.params[keras_name]
    return state


def _check_shape(where: str, param: str, array: np.ndarray, want: tuple) -> None:
    if tuple(array.shape) != tuple(want):
        raise ModelError(f"{where}: {param} has shape {tuple(array.shape)}, expected {tuple(want)} "
                         "(Keras layout) for the U-Net described by train_hparams.yaml")


def read_fusion_weights(path: str | Path, *, n_views: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Fusion layer weights ``W (n_views, n_classes)`` and ``b (n_classes,)`` from mpunet's fusion file.

    Raises
    ------
    ModelError
        If the file has no fusion layer or its shapes do not match the views and classes.
    """
    path = Path(path)
    layers = [layer for layer in read_keras_layers(path) if set(layer.params) == {"W", "b"}]
    if len(layers) != 1:
        raise ModelError(f"{path}: expected exactly one fusion layer with weights W and b, found "
                         f"{[layer.name for layer in read_keras_layers(path)]}")
    w, b = layers[0].params["W"], layers[0].params["b"]
    where = f"{path}: layer '{layers[0].name}'"
    _check_shape(where, "W", w, (n_views, n_classes))
    if b.size != n_classes:
        raise ModelError(f"{where}: b has shape {tuple(b.shape)}, expected (1, {n_classes})")
    return w.astype(np.float32), b.reshape(n_classes).astype(np.float32)
