"""The ``"mpunet"`` BoxPredictor: the seed paper's MultiPlanarUNet run in PyTorch.

For each view: sample planes of ``real_space_span_mm`` around a centre (the ear box's centre, or
the image centre for :meth:`MPUNetPredictor.predict_volume` as mpunet does) from the ORIGINAL
image in world space, scale intensities per image, run the 2-D U-Net over the slices in batches
(GPU when available), and map the predictions back to the target points (nearest sample; outside
the sampled cube -> background). Only planes that some target point maps to are computed, which
gives the same result as mpunet's full stack of ``dim + 20`` planes. The views are fused with the
learned fusion layer (or summed).
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch

from ..box import EarBox
from ..errors import ModelError
from ..progress import CancelToken, ProgressCallback
from .fusion import FusionAccumulator
from .sampling import (IntensityScaling, PlaneGrid, VolumeGeometry, fit_intensity_scaling, nearest_offset_indices,
                       nearest_plane_indices, plane_grid, sample_planes)
from .unet2d import MPUNet2D, count_parameters, load_state
from .views import view_basis_lps

log = logging.getLogger(__name__)

#: Target points mapped per chunk (bounds the memory of the back-mapping).
CHUNK_POINTS = 1 << 21


@dataclass(frozen=True)
class MPUNetParams:
    """``architecture_params`` of an imported mpunet package (see :mod:`.importer`)."""

    n_classes: int
    dim: int
    real_space_span_mm: float
    views_ras: tuple
    depth: int = 4
    complexity_factor: float = 1.0
    n_channels: int = 1
    bg_value: str | float = "1pct"
    scaler: str | None = "RobustScaler"
    scaler_fit_above_bg: bool = False
    fusion: str = "learned"
    sampling_centre: str = "box"

    @classmethod
    def from_dict(cls, params: dict) -> "MPUNetParams":
        known = set(cls.__dataclass_fields__)
        missing = [k for k in ("n_classes", "dim", "real_space_span_mm", "views_ras") if k not in params]
        if missing:
            raise ModelError(f"mpunet manifest: architecture_params lacks {missing}; re-import the project")
        kw = {k: v for k, v in params.items() if k in known}
        kw["views_ras"] = tuple(tuple(float(x) for x in v) for v in params["views_ras"])
        if kw.get("sampling_centre", "box") not in ("box", "image"):
            raise ModelError(f"mpunet manifest: sampling_centre must be 'box' or 'image', got {kw['sampling_centre']!r}")
        return cls(**kw)


class MPUNetPredictor:
    """Multi-planar prediction with an :class:`MPUNet2D` and fusion weights.

    Parameters
    ----------
    net : MPUNet2D
        The 2-D U-Net with its weights loaded.
    params : MPUNetParams
        Geometry, scaler and fusion settings.
    fusion_weight, fusion_bias : torch.Tensor or None
        ``W (V, C)`` and ``b (C,)``; None for sum fusion.
    device : str or torch.device
        ``"cpu"`` or ``"cuda"``.
    batch_size : int, optional
        Slices per network call (default 16 on a GPU, 4 on a CPU).
    manifest : ModelManifest, optional
        The package's manifest, exposed as ``self.manifest`` like the other predictors.

    Notes
    -----
    ``params.sampling_centre`` chooses where the planes of an ear box are centred: ``"box"`` (default,
    the ear sits mid-slice whatever the field of view) or ``"image"`` (mpunet's own behaviour: the
    same planes as a whole-scan run, evaluated only where the box needs them).
    """

    def __init__(self, net: MPUNet2D, params: MPUNetParams, *, fusion_weight=None, fusion_bias=None,
                 device="cpu", batch_size: int | None = None, manifest=None) -> None:
        self.manifest = manifest  # the package's ModelManifest (the pipeline reads labels/is_binary from it)
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.params = params
        self.grid: PlaneGrid = plane_grid(dim=params.dim, real_space_span_mm=params.real_space_span_mm)
        self.bases = [view_basis_lps(v) for v in params.views_ras]
        self.fusion_weight, self.fusion_bias = fusion_weight, fusion_bias
        self.batch_size = batch_size or (16 if self.device.type == "cuda" else 4)
        self._cache: tuple | None = None

    @property
    def n_classes(self) -> int:
        return self.params.n_classes

    def predict(self, image: sitk.Image, box: EarBox, *, cancel: CancelToken | None = None,
                progress: ProgressCallback | None = None) -> np.ndarray:
        """Class probabilities ``(n_classes, Z, Y, X)`` float32 on the box grid (box voxel centres in world).

        Planes are sampled around ``box.centre_lps_mm`` (or the image centre, see Notes of the class)
        from the original (unmirrored) image; a right-ear box's mirrored grid is handled by its own
        ``index_to_lps_mm``.
        """
        shape = box.spec.shape_zyx
        idx = np.indices(shape).reshape(3, -1).T
        points = torch.as_tensor(box.index_to_lps_mm(idx), dtype=torch.float64)
        centre = box.centre_lps_mm
        if self.params.sampling_centre == "image":
            centre = VolumeGeometry.of(image).centre_lps_mm
        probs = self._predict_points(image, [(len(points), lambda: points)], centre_lps_mm=centre, cancel=cancel,
                                     progress=progress)
        return probs.reshape((self.n_classes,) + tuple(shape))

    def predict_volume(self, image: sitk.Image, *, cancel=None, progress=None) -> np.ndarray:
        """Probabilities ``(n_classes, Z, Y, X)`` on the image's own grid, centred on the image centre
        (what ``mpunet predict`` does for a whole scan)."""
        geom = VolumeGeometry.of(image)
        nx, ny, nz = geom.size_xyz
        slabs = max(1, CHUNK_POINTS // (nx * ny))

        def chunk(z0: int) -> torch.Tensor:
            z1 = min(nz, z0 + slabs)
            zz, yy, xx = np.meshgrid(np.arange(z0, z1), np.arange(ny), np.arange(nx), indexing="ij")
            idx = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1).astype(np.float64)
            return torch.as_tensor(geom.origin_lps_mm + idx @ geom.matrix.T)

        chunks = [((min(nz, z0 + slabs) - z0) * ny * nx, functools.partial(chunk, z0))
                  for z0 in range(0, nz, slabs)]
        probs = self._predict_points(image, chunks, centre_lps_mm=geom.centre_lps_mm, cancel=cancel,
                                     progress=progress)
        return probs.reshape(self.n_classes, nz, ny, nx)

    def _volume(self, image: sitk.Image) -> tuple[torch.Tensor, VolumeGeometry, IntensityScaling]:
        if self._cache is not None and self._cache[0] is image:
            return self._cache[1:]
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError("image must be a 3-D single-component CT")
        array = sitk.GetArrayViewFromImage(image)
        p = self.params
        scaling = fit_intensity_scaling(array, scaler=p.scaler, bg=p.bg_value, fit_above_bg=p.scaler_fit_above_bg)
        volume = torch.from_numpy(np.array(array, dtype=np.float32, copy=True)).to(self.device)
        geom = VolumeGeometry.of(image)
        self._cache = (image, volume, geom, scaling)
        return volume, geom, scaling

    def _predict_points(self, image, chunks: list, *, centre_lps_mm, cancel=None, progress=None) -> np.ndarray:
        """Fused probabilities ``(C, N)`` at target points given as ``[(n_points, make_points), ...]`` chunks
        (``make_points()`` returns an (n, 3) float64 tensor of LPS mm), so a whole CT is never held at once."""
        volume, geom, scaling = self._volume(image)
        n_total = sum(n for n, _ in chunks)
        planes = [self._needed_planes(chunks, centre_lps_mm, basis) for basis in self.bases]
        n_slices = sum(len(p) for p in planes)
        log.info("mpunet: %d views, %d of %d slices needed, %d target points, device %s", len(self.bases),
                 n_slices, len(self.bases) * len(self.grid.offsets_mm), n_total, self.device)
        acc = FusionAccumulator(n_views=len(self.bases), shape=(self.n_classes, n_total),
                                weight=self.fusion_weight, bias=self.fusion_bias)
        timer = _Timer(n_slices, self, progress)
        for v, (basis, needed) in enumerate(zip(self.bases, planes)):
            plane_probs = self._run_planes(volume, geom, scaling, centre_lps_mm, basis, needed, timer, cancel)
            row_of = torch.full((len(self.grid.offsets_mm),), -1, dtype=torch.int64, device=self.device)
            row_of[torch.as_tensor(needed, device=self.device)] = torch.arange(len(needed), device=self.device)
            start = 0
            for _, make_points in chunks:
                points = make_points()
                iu, iv, ip, inside = nearest_plane_indices(points.to(self.device), centre_lps_mm=centre_lps_mm,
                                                           basis_lps=basis, grid=self.grid)
                out = torch.zeros((len(points), self.n_classes), dtype=torch.float32, device=self.device)
                out[:, 0] = 1.0
                rows = row_of[ip[inside]]
                out[inside] = plane_probs[rows, :, iu[inside], iv[inside]]
                acc.add(v, out.T.cpu(), at=slice(start, start + len(points)))
                start += len(points)
        return acc.result().numpy().astype(np.float32)

    def _needed_planes(self, chunks, centre_lps_mm, basis) -> np.ndarray:
        used = torch.zeros(len(self.grid.offsets_mm), dtype=torch.bool, device=self.device)
        for _, make_points in chunks:
            ip = nearest_offset_indices(make_points().to(self.device), centre_lps_mm=centre_lps_mm, basis_lps=basis,
                                        grid=self.grid)
            used |= torch.bincount(ip, minlength=len(used)) > 0
        return torch.nonzero(used).flatten().cpu().numpy()

    @torch.no_grad()
    def _run_planes(self, volume, geom, scaling, centre_lps_mm, basis, needed, timer, cancel) -> torch.Tensor:
        dim = self.params.dim
        out = torch.empty((len(needed), self.n_classes, dim, dim), dtype=torch.float32, device=self.device)
        start = 0
        while start < len(needed):
            if cancel is not None:
                cancel.raise_if_cancelled()
            batch = needed[start:start + self.batch_size]
            t0 = time.perf_counter()
            x = sample_planes(volume, geom, centre_lps_mm=centre_lps_mm, basis_lps=basis, grid=self.grid,
                              plane_indices=batch, bg_value=scaling.bg_value)
            try:
                out[start:start + len(batch)] = self.net(scaling.apply(x)[:, None])
            except torch.cuda.OutOfMemoryError:
                if self.batch_size == 1:
                    raise
                self.batch_size = max(1, self.batch_size // 2)
                log.warning("CUDA out of memory: mpunet batch size reduced to %d slices", self.batch_size)
                torch.cuda.empty_cache()
                continue
            timer.done(len(batch), time.perf_counter() - t0)
            start += len(batch)
        return out


class _Timer:
    """Logs the expected duration once a batch has been timed (the first batch warms the kernels up, so
    the second one is timed when there is one). On the CPU it is a warning: it may take minutes."""

    def __init__(self, n_slices: int, predictor: MPUNetPredictor, progress) -> None:
        self.n_slices, self.done_slices, self.predictor, self.progress = n_slices, 0, predictor, progress
        self.batches, self.reported = 0, False

    def done(self, n: int, seconds: float) -> None:
        self.done_slices += n
        self.batches += 1
        if not self.reported and (self.batches >= 2 or self.done_slices >= self.n_slices):
            self.reported = True
            eta = seconds / n * (self.n_slices - self.done_slices)
            p = self.predictor
            msg = (f"mpunet on {p.device.type.upper()}: {self.n_slices} slices of {p.params.dim}x{p.params.dim} "
                   f"through a {count_parameters(p.net) / 1e6:.1f} M-parameter 2-D U-Net; "
                   f"expected about {_human(eta)} more (measured {seconds / n:.3f} s per slice)")
            (log.warning if p.device.type == "cpu" and eta > 30 else log.info)(msg)
            if self.progress is not None:
                self.progress("predict", self.done_slices / self.n_slices, msg)
        elif self.progress is not None:
            self.progress("predict", self.done_slices / self.n_slices,
                          f"mpunet slice {self.done_slices}/{self.n_slices}")


def _human(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def build_mpunet_predictor(loaded, device="cpu", *, batch_size: int | None = None) -> MPUNetPredictor:
    """Builder registered for architecture ``"mpunet"``: a :class:`MPUNetPredictor` from a loaded package.

    Raises
    ------
    ModelError
        If the manifest's parameters and the tensors do not fit together.
    """
    manifest = loaded.manifest
    params = MPUNetParams.from_dict(dict(manifest.architecture_params))
    if params.n_classes != manifest.n_classes:
        raise ModelError(f"mpunet manifest: n_classes {params.n_classes} but {manifest.n_classes} labels")
    tensors = dict(loaded.tensors)
    fw, fb = tensors.pop("fusion.weight", None), tensors.pop("fusion.bias", None)
    if params.fusion == "learned" and (fw is None or fb is None):
        raise ModelError("mpunet package: fusion 'learned' but fusion.weight/fusion.bias are missing")
    net = MPUNet2D(n_classes=params.n_classes, n_channels=params.n_channels, depth=params.depth,
                   complexity_factor=params.complexity_factor)
    try:
        load_state(net, tensors)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"mpunet package {getattr(loaded, 'weights_path', '')}: {exc}") from exc
    if params.fusion != "learned":
        fw = fb = None
    return MPUNetPredictor(net, params, fusion_weight=fw, fusion_bias=fb, device=device, batch_size=batch_size,
                           manifest=manifest)

