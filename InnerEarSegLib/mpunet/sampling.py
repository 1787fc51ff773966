"""Multi-planar sampling of a CT along one MultiPlanarUNet view, and mapping predictions back.

Geometry (mpunet ``IsotrophicLiveViewSequence2D.get_view_from`` / ``map_real_space_pred``):

- in-plane axis ``g = linspace(-hd, hd, dim)`` with ``hd = floor(real_space_span / 2)``;
- ``dim + 20`` plane offsets evenly over ``±(span + 20 * span / (dim - 1)) / 2`` along the view ``n``;
- a sample at plane coordinates ``(a, b, c)`` sits at world ``centre + B @ (a, b, c)`` (``B = [u v n]``);
- trilinear on the voxel grid; a point outside the voxel centres' hull takes ``bg_value`` (no blending);
- then the per-image scaler (e.g. RobustScaler ``(x - median) / IQR``);
- back: each target point's plane coordinates ``inv(B) @ (p - centre)`` pick the nearest prediction
  (ties towards the lower index, as scipy's nearest); points outside the sampled cube get one-hot
  background.

All points are LPS world mm; SimpleITK geometry (origin, spacing, direction) handles oblique and
anisotropic images. Tensors are ``(z, y, x)`` volumes and ``(planes, H=u, W=v)`` slices.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch
from torch.nn import functional as F

#: Extra planes mpunet samples beyond ``dim`` (``n_planes="same+20"``).
EXTRA_PLANES = 20

SUPPORTED_SCALERS = ("RobustScaler", "StandardScaler", "MinMaxScaler", "MaxAbsScaler", None)


@dataclass(frozen=True)
class PlaneGrid:
    """Sample coordinates of one view, in mm: ``g`` in-plane (u and v), ``offsets`` along n."""

    g_mm: np.ndarray
    offsets_mm: np.ndarray


def plane_grid(*, dim: int, real_space_span_mm: float, extra_planes: int = EXTRA_PLANES) -> PlaneGrid:
    """mpunet's plane axes for ``dim`` pixels over ``real_space_span_mm``.

    Examples
    --------
    >>> grid = plane_grid(dim=5, real_space_span_mm=9.0)
    >>> grid.g_mm.tolist(), len(grid.offsets_mm)
    ([-4.0, -2.0, 0.0, 2.0, 4.0], 25)
    """
    if not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    if not real_space_span_mm > 0:
        raise ValueError(f"real_space_span_mm must be positive, got {real_space_span_mm!r}")
    hd = real_space_span_mm // 2
    g = np.linspace(-hd, hd, dim)
    sample_res = real_space_span_mm / (dim - 1)
    bounds = (real_space_span_mm + extra_planes * sample_res) / 2
    return PlaneGrid(g, np.linspace(-bounds, bounds, dim + extra_planes))


@dataclass(frozen=True)
class IntensityScaling:
    """How raw HU become network input: background fill value, then ``(x - center) / scale``."""

    bg_value: float
    center: float
    scale: float

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.center) / self.scale


def _bg_value(values: np.ndarray, bg: str | float) -> float:
    if isinstance(bg, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*pct\s*", bg.lower())
        if not m:
            raise ValueError(f"bg_value must be a number or '<N>pct', got {bg!r}")
        return float(np.percentile(values, float(m.group(1))))
    return float(bg)


def fit_intensity_scaling(values: np.ndarray, *, scaler: str | None = "RobustScaler",
                          bg: str | float = "1pct", fit_above_bg: bool = False) -> IntensityScaling:
    """Background value and scaler fitted on the raw voxels of one image, as mpunet does per image.

    Parameters
    ----------
    values : np.ndarray
        All raw voxel values (any shape).
    scaler : str or None
        sklearn scaler name mpunet used (``RobustScaler`` in the paper: median and IQR, IQR 0 -> 1).
    bg : str or float
        ``'1pct'`` (the 1st percentile) or a fixed value.
    fit_above_bg : bool
        mpunet < 0.2.6 fitted the scaler only on voxels strictly above the background value.
    """
    if scaler not in SUPPORTED_SCALERS:
        raise ValueError(f"scaler must be one of {SUPPORTED_SCALERS}, got {scaler!r}")
    flat = np.asarray(values, dtype=np.float64).ravel()
    bg_value = _bg_value(flat, bg)
    fit = flat[flat > bg_value] if fit_above_bg else flat
    if fit.size == 0:
        fit = flat
    center, scale = 0.0, 1.0
    if scaler == "RobustScaler":
        q25, center, q75 = np.percentile(fit, [25, 50, 75])
        scale = q75 - q25
    elif scaler == "StandardScaler":
        center, scale = fit.mean(), fit.std()
    elif scaler == "MinMaxScaler":
        center, scale = fit.min(), fit.max() - fit.min()
    elif scaler == "MaxAbsScaler":
        scale = np.abs(fit).max()
    if not scale or not math.isfinite(scale):
        scale = 1.0
    return IntensityScaling(bg_value=bg_value, center=float(center), scale=float(scale))


@dataclass(frozen=True)
class VolumeGeometry:
    """World <-> continuous index (x, y, z) mapping of a SimpleITK image (LPS mm)."""

    origin_lps_mm: np.ndarray
    matrix: np.ndarray          # direction @ diag(spacing): index (x, y, z) -> offset in mm
    size_xyz: tuple

    @classmethod
    def of(cls, image: sitk.Image) -> "VolumeGeometry":
        d = np.asarray(image.GetDirection(), float).reshape(3, 3)
        return cls(np.asarray(image.GetOrigin(), float), d @ np.diag(image.GetSpacing()),
                   tuple(int(s) for s in image.GetSize()))

    @property
    def centre_lps_mm(self) -> np.ndarray:
        """World position of the centre of the voxel grid (mpunet centres every view here)."""
        return self.origin_lps_mm + self.matrix @ ((np.asarray(self.size_xyz) - 1) / 2.0)

    def lps_to_index(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> continuous indices (x, y, z)."""
        return (np.asarray(points_lps_mm) - self.origin_lps_mm) @ np.linalg.inv(self.matrix).T


def sample_planes(volume_zyx: torch.Tensor, geometry: VolumeGeometry, *, centre_lps_mm, basis_lps: np.ndarray,
                  grid: PlaneGrid, plane_indices, bg_value: float) -> torch.Tensor:
    """Trilinear samples ``(len(plane_indices), dim, dim)`` of the raw volume on the given planes.

    ``volume_zyx`` is a float tensor on the compute device; the sample at ``[p, i, j]`` is at world
    ``centre + B @ (g[i], g[j], offsets[plane_indices[p]])``. Points outside the hull of voxel
    centres take ``bg_value``.
    """
    if volume_zyx.ndim != 3 or min(volume_zyx.shape) < 2:
        raise ValueError(f"volume must be 3-D with at least 2 voxels per axis, got {tuple(volume_zyx.shape)}")
    dev = volume_zyx.device
    g = torch.as_tensor(grid.g_mm, dtype=torch.float32, device=dev)
    c = torch.as_tensor(grid.offsets_mm[np.asarray(plane_indices, dtype=np.int64)], dtype=torch.float32,
                        device=dev)
    inv = np.linalg.inv(geometry.matrix)
    # index = inv(M) @ (centre - origin) + inv(M) @ B @ (a, b, c)
    t = torch.as_tensor(inv @ (np.asarray(centre_lps_mm, float) - geometry.origin_lps_mm), dtype=torch.float32,
                        device=dev)
    m = torch.as_tensor(inv @ basis_lps, dtype=torch.float32, device=dev)  # index step per mm along u, v, n
    idx = (t + g[None, :, None, None] * m[:, 0] + g[None, None, :, None] * m[:, 1]
           + c[:, None, None, None] * m[:, 2])  # (P, dim, dim, 3) as (x, y, z)
    size = torch.as_tensor(geometry.size_xyz, dtype=torch.float32, device=dev)
    eps = 1e-4  # float32 rounding at the hull of voxel centres
    inside = ((idx >= -eps) & (idx <= size - 1 + eps)).all(dim=-1)
    norm = (2 * idx / (size - 1) - 1).to(volume_zyx.dtype)
    out = F.grid_sample(volume_zyx[None, None], norm[None], mode="bilinear", padding_mode="border",
                        align_corners=True)[0, 0]
    return torch.where(inside, out, torch.as_tensor(bg_value, dtype=out.dtype, device=dev))


def nearest_offset_indices(points_lps_mm: torch.Tensor, *, centre_lps_mm, basis_lps: np.ndarray,
                           grid: PlaneGrid) -> torch.Tensor:
    """Indices of the planes (along n only) that the (N, 3) world points map to; points beyond the
    first/last plane are dropped. A cheap superset of the planes :func:`nearest_plane_indices` uses."""
    dev = points_lps_mm.device
    n_axis = torch.as_tensor(np.linalg.inv(basis_lps)[2], dtype=torch.float64, device=dev)
    c = (points_lps_mm.to(torch.float64) - torch.as_tensor(np.asarray(centre_lps_mm, float), device=dev)) @ n_axis
    lo, hi, n = float(grid.offsets_mm[0]), float(grid.offsets_mm[-1]), len(grid.offsets_mm)
    c = c[(c >= lo) & (c <= hi)]
    return torch.ceil((c - lo) / ((hi - lo) / (n - 1)) - 0.5).clamp(0, n - 1).to(torch.int64)


def nearest_plane_indices(points_lps_mm: torch.Tensor, *, centre_lps_mm, basis_lps: np.ndarray,
                          grid: PlaneGrid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For (N, 3) world points: nearest (u, v, plane) sample indices and an ``inside`` mask.

    Coordinates are ``inv(B) @ (p - centre)``; the nearest index rounds ties down (scipy's rule);
    a point beyond the first/last sample coordinate on any axis is outside.
    """
    dev = points_lps_mm.device
    inv_b = torch.as_tensor(np.linalg.inv(basis_lps), dtype=torch.float64, device=dev)
    rel = points_lps_mm.to(torch.float64) - torch.as_tensor(np.asarray(centre_lps_mm, float), device=dev)
    coords = rel @ inv_b.T
    out = []
    inside = torch.ones(coords.shape[0], dtype=torch.bool, device=dev)
    for axis, values in ((0, grid.g_mm), (1, grid.g_mm), (2, grid.offsets_mm)):
        x = coords[:, axis]
        lo, hi, n = float(values[0]), float(values[-1]), len(values)
        step = (hi - lo) / (n - 1)
        t = (x - lo) / step
        idx = torch.ceil(t - 0.5).clamp(0, n - 1).to(torch.int64)
        inside &= (x >= lo) & (x <= hi)
        out.append(idx)
    return out[0], out[1], out[2], inside
