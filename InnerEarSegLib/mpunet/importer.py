"""Convert an mpunet project folder into an InnerEarSeg model package (safetensors + JSON manifest).

The package holds the U-Net state dict (keys ``layers.<keras name>.<param>``, torch layout) and, unless
sum fusion was chosen, ``fusion.weight (V, C)`` and ``fusion.bias (C,)``. The manifest's
``architecture`` is ``"mpunet"`` and ``architecture_params`` carries everything the predictor needs:
views (RAS, as in ``views.npz``), dim, real_space_span_mm, depth, complexity_factor, n_classes,
scaler, bg_value, scaler_fit_above_bg, fusion, mpunet version and the source files.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..box import BoxSpec
from ..errors import ModelError
from ..labels import BACKGROUND_CLASS, LABYRINTH_CLASS, STRUCTURE_KEYS, class_structures
from .project import MPUNetProject, read_project
from .unet2d import MPUNet2D, load_state, unet_layer_specs
from .weights_h5 import read_fusion_weights, unet_state_dict_from_h5

log = logging.getLogger(__name__)

ARCHITECTURE = "mpunet"


def default_labels(n_classes: int) -> dict[int, str]:
    """``{0: background, 1: labyrinth}`` for a binary model (the seed paper's).

    Raises
    ------
    ModelError : for more classes: which class is which structure cannot be guessed (``--labels``).
    """
    if n_classes == 2:
        return {0: BACKGROUND_CLASS, 1: LABYRINTH_CLASS}
    raise ModelError(f"the project has {n_classes} classes; name the {n_classes - 1} after background in the "
                     f"project's class order with --labels (structure keys: {','.join(STRUCTURE_KEYS)})")


def check_labels(labels: dict[int, str], n_classes: int) -> None:
    """Refuse class names that do not fit the project or the structure catalogue (by name, not position)."""
    if len(labels) != n_classes:
        raise ModelError(f"labels name {len(labels)} classes but the project has n_classes={n_classes}")
    if n_classes > 2:
        try:
            class_structures(labels)
        except ValueError as exc:
            raise ModelError(f"--labels: {exc}") from None


def architecture_params(project: MPUNetProject, *, sampling_centre: str = "box") -> dict:
    """The JSON-able ``architecture_params`` of the manifest for ``project``."""
    if sampling_centre not in ("box", "image"):
        raise ValueError(f"sampling_centre must be 'box' or 'image', got {sampling_centre!r}")
    return {
        "n_classes": project.n_classes,
        "n_channels": project.n_channels,
        "depth": project.depth,
        "complexity_factor": project.complexity_factor,
        "dim": project.dim,
        "real_space_span_mm": project.real_space_span_mm,
        "views_ras": [[float(x) for x in v] for v in project.views_ras],
        "bg_value": project.bg_value,
        "scaler": project.scaler,
        "scaler_fit_above_bg": project.scaler_fit_above_bg,
        "fusion": "sum" if project.fusion_path is None else "learned",
        "sampling_centre": sampling_centre,
        "mpunet_version": project.version,
        "source_weights": project.weights_path.name,
        "source_fusion_weights": None if project.fusion_path is None else project.fusion_path.name,
    }


def convert_project(project: MPUNetProject) -> dict[str, torch.Tensor]:
    """Read and check all weights of ``project``; returns the tensors of the package.

    The state dict is loaded into a freshly built :class:`MPUNet2D` as a final check.

    Raises
    ------
    ModelError
        Naming the file and layer on anything that cannot be mapped.
    """
    if project.n_channels != 1:
        raise ModelError(f"{project.root / 'train_hparams.yaml'}: n_channels is {project.n_channels}; only "
                         "single-channel (CT) models can run here")
    specs = unet_layer_specs(n_classes=project.n_classes, n_channels=project.n_channels, depth=project.depth,
                             complexity_factor=project.complexity_factor)
    state = unet_state_dict_from_h5(project.weights_path, specs)
    net = MPUNet2D(n_classes=project.n_classes, n_channels=project.n_channels, depth=project.depth,
                   complexity_factor=project.complexity_factor)
    try:
        load_state(net, state)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{project.weights_path}: {exc}") from exc
    tensors = {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in state.items()}
    if project.fusion_path is not None:
        w, b = read_fusion_weights(project.fusion_path, n_views=len(project.views_ras), n_classes=project.n_classes)
        tensors["fusion.weight"] = torch.from_numpy(w)
        tensors["fusion.bias"] = torch.from_numpy(b)
    return tensors


def import_project(project_dir: str | Path, output: str | Path, *, name: str | None = None,
                   version: str = "1", labels: dict[int, str] | None = None, sum_fusion: bool = False,
                   spec: BoxSpec | None = None, sampling_centre: str = "box"):
    """Import an mpunet project folder as ``output`` (``.safetensors`` + sibling ``.json`` manifest).

    Parameters
    ----------
    project_dir : path
        The mpunet project folder (train_hparams.yaml, views.npz, model/).
    output : path
        Target ``.safetensors`` file; a folder gets ``<name>.safetensors`` inside it.
    name, version : str
        Model name (default: ``mpunet-<project folder name>``) and version.
    labels : dict[int, str], optional
        Class names; default :func:`default_labels`. With more than one foreground class each name
        must be a catalogue structure; the classes are mapped to structures by these names.
    sum_fusion : bool
        Ignore the fusion weights and sum the views.
    spec : BoxSpec, optional
        The per-ear box the predictor fills (96^3 at 0.3 mm by default).
    sampling_centre : {"box", "image"}
        Centre the planes on each ear box (default) or on the image centre as mpunet does.

    Returns
    -------
    ModelManifest
        The manifest as written (with the SHA-256 of the weights).

    Raises
    ------
    ModelError
        Naming the file/layer on a missing or inconsistent project.
    """
    from ..model.package import ModelManifest, save_model_package

    project = read_project(project_dir, sum_fusion=sum_fusion)
    labels = labels or default_labels(project.n_classes)
    check_labels(labels, project.n_classes)
    tensors = convert_project(project)
    spec = spec or BoxSpec()
    name = name or f"mpunet-{Path(project_dir).resolve().name}"
    output = Path(output)
    if output.suffix != ".safetensors":
        output = output / f"{name}.safetensors"
    params = architecture_params(project, sampling_centre=sampling_centre)
    manifest = ModelManifest(
        name=name, version=str(version), architecture=ARCHITECTURE, architecture_params=params, labels=labels,
        spacing_mm=spec.spacing_mm, box_size_vox=spec.size_vox,
        normalisation={"method": "mpunet_per_image", "scaler": project.scaler, "bg_value": project.bg_value,
                       "fit_above_bg": project.scaler_fit_above_bg},
        training={"source": "MultiPlanarUNet project imported by innerear-seg import-mpunet",
                  "project_dir": str(Path(project_dir).resolve()), "weights": project.weights_path.name,
                  "fusion_weights": params["source_fusion_weights"], "mpunet_version": project.version},
        accuracy={"note": "as reported by the model's authors; not re-measured by the import"})
    written = save_model_package(output, tensors, manifest)
    log.info("imported %s (%d tensors, %d views) to %s", project.weights_path, len(tensors),
             len(project.views_ras), output)
    return written
