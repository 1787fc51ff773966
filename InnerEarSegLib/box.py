"""The per-ear box: a fixed physical cube around one labyrinth at the model's spacing.

The box is axis-aligned with the patient (LPS world) axes. Its array x axis always points
*laterally*: for a left ear that is +x (towards patient left), for a right ear the grid's
direction matrix is ``diag(-1, 1, 1)``, so resampling the CT onto a right-ear box mirrors it to the
left ear's chirality for free, and an image on that grid still sits at the right place in world
space (un-mirroring is exact: the same grid is used to place the labels back).

Box voxel centres lie on a global lattice ``{k * spacing_mm}`` in every axis, so boxes of both
ears and their union grid share voxel centres and nearest-neighbour placement is lossless.
Arrays are ``(z, y, x)``; points are LPS ``(x, y, z)`` in mm.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .labels import Side


@dataclass(frozen=True)
class BoxSpec:
    """Size and spacing of the model's input box."""

    size_vox: int = 96
    spacing_mm: float = 0.3

    @property
    def extent_mm(self) -> float:
        """Edge length of the cube, in mm."""
        return self.size_vox * self.spacing_mm

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return (self.size_vox,) * 3


@dataclass(frozen=True)
class EarBox:
    """A box around one ear. Build it with :func:`make_ear_box` so the centre is snapped to the lattice."""

    side: Side
    centre_lps_mm: tuple[float, float, float]
    spec: BoxSpec = field(default_factory=BoxSpec)

    @property
    def direction(self) -> tuple[float, ...]:
        """Row-major 3x3 direction matrix: x axis lateral (mirrored for the right ear)."""
        sx = 1.0 if self.side is Side.LEFT else -1.0
        return (sx, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    @property
    def origin_lps_mm(self) -> tuple[float, float, float]:
        """World position of voxel index (0, 0, 0)."""
        half = self.spec.spacing_mm * (self.spec.size_vox - 1) / 2.0
        d = np.asarray(self.direction).reshape(3, 3)
        return tuple(float(v) for v in np.asarray(self.centre_lps_mm) - d @ np.full(3, half))

    def reference_image(self, pixel_type: int = sitk.sitkFloat32) -> sitk.Image:
        """An empty image on the box grid (for resampling onto it)."""
        n = self.spec.size_vox
        image = sitk.Image([n, n, n], pixel_type)
        image.SetSpacing([self.spec.spacing_mm] * 3)
        image.SetDirection(self.direction)
        image.SetOrigin(self.origin_lps_mm)
        return image

    def index_to_lps_mm(self, index_zyx: np.ndarray) -> np.ndarray:
        """Convert (..., 3) array indices (z, y, x) to LPS points (x, y, z) in mm."""
        idx_xyz = np.asarray(index_zyx, dtype=float)[..., ::-1]
        d = np.asarray(self.direction).reshape(3, 3)
        return np.asarray(self.origin_lps_mm) + (idx_xyz * self.spec.spacing_mm) @ d.T

    def lps_mm_to_index(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Convert (..., 3) LPS points in mm to continuous array indices (z, y, x)."""
        d = np.asarray(self.direction).reshape(3, 3)
        rel = np.asarray(points_lps_mm, dtype=float) - np.asarray(self.origin_lps_mm)
        idx_xyz = (rel @ d) / self.spec.spacing_mm  # d is orthonormal: inverse = transpose
        return idx_xyz[..., ::-1]


def make_ear_box(centre_lps_mm, side: Side, spec: BoxSpec | None = None) -> EarBox:
    """Box of `spec` centred (within half a voxel) on `centre_lps_mm`, voxel centres on the global lattice."""
    spec = spec or BoxSpec()
    c = np.asarray(centre_lps_mm, dtype=float)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ValueError(f"centre_lps_mm must be 3 finite numbers, got {centre_lps_mm!r}")
    s = spec.spacing_mm
    offset = 0.5 * s if spec.size_vox % 2 == 0 else 0.0
    snapped = np.round((c - offset) / s) * s + offset
    return EarBox(side, tuple(float(v) for v in snapped), spec)


def resample_to_box(
    image: sitk.Image,
    box: EarBox,
    *,
    interpolator: int = sitk.sitkLinear,
    default_value: float = -1000.0,
    pixel_type: int = sitk.sitkFloat32,
) -> sitk.Image:
    """Resample `image` (any grid/orientation) onto the box grid. Points outside take `default_value`."""
    return sitk.Resample(image, box.reference_image(pixel_type), sitk.Transform(), interpolator,
                         float(default_value), pixel_type)


def array_to_box_image(array_zyx: np.ndarray, box: EarBox) -> sitk.Image:
    """Wrap a (z, y, x) array that lives on the box grid as a SimpleITK image with the box geometry."""
    if array_zyx.shape != box.spec.shape_zyx:
        raise ValueError(f"array shape {array_zyx.shape} does not match box shape {box.spec.shape_zyx}")
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing([box.spec.spacing_mm] * 3)
    image.SetDirection(box.direction)
    image.SetOrigin(box.origin_lps_mm)
    return image


def union_grid(boxes: list[EarBox], *, margin_vox: int = 0) -> sitk.Image:
    """An identity-direction uint8 image on the common lattice that covers every box."""
    if not boxes:
        raise ValueError("union_grid needs at least one box")
    s = boxes[0].spec.spacing_mm
    corners = []
    for b in boxes:
        if abs(b.spec.spacing_mm - s) > 1e-9:
            raise ValueError("all boxes must share one spacing")
        n = b.spec.size_vox - 1
        idx = np.array([[z, y, x] for z in (0, n) for y in (0, n) for x in (0, n)], float)
        corners.append(b.index_to_lps_mm(idx))
    pts = np.concatenate(corners)
    lo = pts.min(axis=0) - margin_vox * s
    hi = pts.max(axis=0) + margin_vox * s
    size = np.round((hi - lo) / s).astype(int) + 1
    image = sitk.Image([int(v) for v in size], sitk.sitkUInt8)
    image.SetSpacing([s] * 3)
    image.SetOrigin([float(v) for v in lo])
    return image


def place_box_labels(labelled_boxes: list[tuple[EarBox, np.ndarray]], *, margin_vox: int = 0) -> sitk.Image:
    """Put per-box uint8 label arrays into one world-space label image on the union lattice.

    Nearest-neighbour on a shared lattice: every box voxel lands on exactly one output voxel.
    Later boxes overwrite earlier ones only where their label is non-zero.
    """
    out = union_grid([b for b, _ in labelled_boxes], margin_vox=margin_vox)
    acc = sitk.GetArrayFromImage(out)
    for box, labels in labelled_boxes:
        moved = sitk.Resample(array_to_box_image(labels.astype(np.uint8), box), out, sitk.Transform(),
                              sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        arr = sitk.GetArrayViewFromImage(moved)
        acc = np.where(arr > 0, arr, acc)
    result = sitk.GetImageFromArray(acc.astype(np.uint8))
    result.CopyInformation(out)
    return result
