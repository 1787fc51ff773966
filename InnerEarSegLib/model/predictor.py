"""Box predictors: from a CT and an ear box to class probabilities on the box grid.

A predictor is built once per loaded model and device with :func:`build_predictor`, then called
per ear box. Architectures register a builder ``(loaded, device) -> BoxPredictor`` with
:func:`register_architecture`; ``"unet3d"`` is built in, ``"mpunet"`` is registered by
:mod:`InnerEarSegLib.mpunet` (imported lazily on first use).
"""
from __future__ import annotations

import importlib
import logging
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import SimpleITK as sitk
import torch

from ..box import EarBox, resample_to_box
from ..errors import ModelError
from ..progress import CancelToken, ProgressCallback
from .device import resolve_device
from .intensity import normalise_hu
from .package import LoadedModel, ModelManifest
from .unet3d import build_unet3d

log = logging.getLogger(__name__)


@runtime_checkable
class BoxPredictor(Protocol):
    """Turns an ear box of a CT into softmax probabilities ``(n_classes, Z, Y, X)`` float32.

    Everything :func:`InnerEarSegLib.pipeline.segment` uses of a predictor is stated here, so a
    predictor that implements it (the U-Net, the MPUNet, a test's fake) needs nothing more.

    Attributes
    ----------
    manifest : the model package's manifest (box size and spacing, class names, binary or not).
    n_classes : number of output classes (``len(manifest.labels)``).
    device : where the network runs (it may fall back to the CPU, so it is read after predicting).
    """

    manifest: ModelManifest
    n_classes: int
    device: torch.device

    def predict(self, image: sitk.Image, box: EarBox, *, cancel: CancelToken | None = None,
                progress: ProgressCallback | None = None) -> np.ndarray:
        """Probabilities on the grid of `box` for the CT `image` (HU, any geometry).

        `cancel` is checked as often as the predictor can; `progress` ``(stage, fraction, message)``
        hears how far this box is (a fast predictor may report only its end).
        """


PredictorBuilder = Callable[[LoadedModel, torch.device], BoxPredictor]

_REGISTRY: dict[str, PredictorBuilder] = {}
#: Architectures whose builder lives in another module, imported on first use.
_LAZY_MODULES = {"mpunet": "InnerEarSegLib.mpunet"}


def register_architecture(name: str, builder: PredictorBuilder) -> None:
    """Make ``manifest.architecture == name`` buildable by :func:`build_predictor`."""
    if not callable(builder):
        raise TypeError(f"builder for {name!r} must be callable, got {builder!r}")
    _REGISTRY[name] = builder


def registered_architectures() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def build_predictor(loaded: LoadedModel, device: str | torch.device = "auto") -> BoxPredictor:
    """Build the predictor for a loaded model package on `device` (``"auto"``, ``"cpu"``, ``"cuda"``).

    Raises
    ------
    ModelError
        If no builder is registered for the manifest's architecture, or the weights do not fit it.
    DeviceError
        If CUDA is requested but absent.
    """
    dev = resolve_device(device)
    name = loaded.manifest.architecture
    if name not in _REGISTRY and name in _LAZY_MODULES:
        try:
            importlib.import_module(_LAZY_MODULES[name])
        except ImportError as exc:
            raise ModelError(f"architecture {name!r} of {loaded.manifest_path} needs {_LAZY_MODULES[name]}, "
                             f"which cannot be imported ({exc})") from None
    if name not in _REGISTRY:
        raise ModelError(f"no predictor is registered for architecture {name!r} ({loaded.manifest_path}); "
                         f"known: {registered_architectures()}")
    return _REGISTRY[name](loaded, dev)


class UNet3DPredictor:
    """The bundled U-Net: resample to the box, normalise per manifest, network, softmax.

    On CUDA the network runs under autocast (float16); a CUDA out-of-memory error moves the
    network to the CPU for good, with a logged warning. CPU results are deterministic: every CPU
    kernel of the U-Net (convolution, instance norm, transposed convolution, softmax) is. The
    switch ``torch.use_deterministic_algorithms`` is not used: it governs CUDA and scatter-type
    kernels, none of which run here, and it imports torch's compiler (about 2 s per process).
    """

    def __init__(self, loaded: LoadedModel, device: torch.device) -> None:
        m = loaded.manifest
        self.manifest = m
        self.n_classes = m.n_classes
        try:
            self.network = build_unet3d(dict(m.architecture_params))
            self.network.load_state_dict(loaded.tensors, strict=True)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise ModelError(f"weights {loaded.weights_path} do not match the unet3d parameters in "
                             f"{loaded.manifest_path}: {exc}") from None
        if self.network.params.n_classes != m.n_classes:
            raise ModelError(f"{loaded.manifest_path}: {m.n_classes} labels but the network has "
                             f"{self.network.params.n_classes} outputs")
        coord_box = self.network.params.coord_box_vox
        if coord_box and coord_box != m.box_size_vox:
            raise ModelError(f"{loaded.manifest_path}: the network's coordinate channels span a {coord_box}^3 box "
                             f"but the manifest's box is {m.box_size_vox}^3")
        self.network.eval()
        self.device = device
        self.network.to(device)

    def predict(self, image: sitk.Image, box: EarBox, *, cancel: CancelToken | None = None,
                progress: ProgressCallback | None = None) -> np.ndarray:
        """Probabilities ``(n_classes, n, n, n)`` float32 on the grid of `box` (one network pass: `progress`
        hears its end)."""
        spec = box.spec
        if spec.size_vox != self.manifest.box_size_vox or abs(spec.spacing_mm - self.manifest.spacing_mm) > 1e-6:
            raise ValueError(f"box is {spec.size_vox}^3 at {spec.spacing_mm} mm but the model expects "
                             f"{self.manifest.box_size_vox}^3 at {self.manifest.spacing_mm} mm; build the box with "
                             "the model's BoxSpec")
        if cancel is not None:
            cancel.raise_if_cancelled()
        hu = sitk.GetArrayFromImage(resample_to_box(image, box, default_value=-1000.0))
        probabilities = self.predict_array(hu)
        if progress is not None:
            progress("predict", 1.0, f"{box.side.value} ear: network pass done")
        return probabilities

    def predict_array(self, hu_zyx: np.ndarray) -> np.ndarray:
        """Probabilities ``(n_classes, Z, Y, X)`` for a HU array already on a box grid."""
        x = torch.from_numpy(normalise_hu(hu_zyx, self.manifest.normalisation))[None, None]
        if self.device.type == "cuda":
            try:
                return self._run(x, self.device)
            except torch.cuda.OutOfMemoryError:
                log.warning("CUDA ran out of memory; falling back to the CPU for this and later boxes")
                torch.cuda.empty_cache()
                self.device = torch.device("cpu")
                self.network.to(self.device)
        return self._run(x, self.device)

    def _run(self, x: torch.Tensor, device: torch.device) -> np.ndarray:
        with torch.inference_mode():
            if device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    logits = self.network(x.to(device))
            else:
                logits = self.network(x)
            probs = torch.softmax(logits.float(), dim=1)[0]
        return probs.cpu().numpy().astype(np.float32, copy=False)


register_architecture("unet3d", UNet3DPredictor)
