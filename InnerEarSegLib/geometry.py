"""World-coordinate conversions: the one place where RAS (Slicer) meets LPS (ITK, this library).

The library works in LPS (x towards patient left, y towards posterior, z towards superior), as
SimpleITK and DICOM do. 3D Slicer's scene is RAS (x right, y anterior, z superior). The two differ
by negating the first two axes, which this module does for points and for 4x4 matrices.

Points are ``(..., 3)`` arrays ``(x, y, z)`` in mm; arrays of voxels are ``(z, y, x)``.

Examples
--------
>>> lps_to_ras((10.0, -20.0, 5.0))
array([-10.,  20.,   5.])
>>> ras_to_lps(lps_to_ras((1.0, 2.0, 3.0)))
array([1., 2., 3.])
"""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Diagonal matrix that maps LPS to RAS and back (its own inverse).
LPS_TO_RAS_4X4 = np.diag([-1.0, -1.0, 1.0, 1.0])


def _points(points_mm, name: str) -> np.ndarray:
    array = np.asarray(points_mm, dtype=float)
    if array.ndim == 0 or array.shape[-1] != 3:
        raise ValueError(f"{name} must be (x, y, z) or an (N, 3) array of points in mm, got shape {array.shape}")
    return array


def lps_to_ras(points_lps_mm) -> np.ndarray:
    """Convert LPS point(s) ``(..., 3)`` in mm to RAS (negate x and y)."""
    return _points(points_lps_mm, "points_lps_mm") * np.array([-1.0, -1.0, 1.0])


def ras_to_lps(points_ras_mm) -> np.ndarray:
    """Convert RAS point(s) ``(..., 3)`` in mm to LPS (negate x and y)."""
    return _points(points_ras_mm, "points_ras_mm") * np.array([-1.0, -1.0, 1.0])


def lps_to_ras_matrix(matrix_lps: np.ndarray) -> np.ndarray:
    """Convert a 4x4 matrix that maps into LPS world (e.g. IJK-to-LPS) to one that maps into RAS."""
    m = np.asarray(matrix_lps, dtype=float)
    if m.shape != (4, 4):
        raise ValueError(f"matrix_lps must be 4x4, got shape {m.shape}")
    return LPS_TO_RAS_4X4 @ m


def ras_to_lps_matrix(matrix_ras: np.ndarray) -> np.ndarray:
    """Convert a 4x4 matrix that maps into RAS world (e.g. Slicer's IJKToRAS) to one that maps into LPS."""
    m = np.asarray(matrix_ras, dtype=float)
    if m.shape != (4, 4):
        raise ValueError(f"matrix_ras must be 4x4, got shape {m.shape}")
    return LPS_TO_RAS_4X4 @ m


def direction_matrix(image: sitk.Image) -> np.ndarray:
    """The image's 3x3 direction matrix (columns = world directions of the i, j, k index axes)."""
    d = image.GetDimension()
    return np.asarray(image.GetDirection(), dtype=float).reshape(d, d)


def ijk_to_lps_matrix(image: sitk.Image) -> np.ndarray:
    """4x4 matrix mapping a homogeneous index ``(i, j, k, 1)`` (i along x of the array) to LPS mm."""
    m = np.eye(4)
    m[:3, :3] = direction_matrix(image) @ np.diag(image.GetSpacing())
    m[:3, 3] = image.GetOrigin()
    return m


def ijk_to_ras_matrix(image: sitk.Image) -> np.ndarray:
    """4x4 matrix mapping ``(i, j, k, 1)`` to RAS mm: what Slicer calls IJKToRAS for this image."""
    return lps_to_ras_matrix(ijk_to_lps_matrix(image))


def index_zyx_to_lps_mm(image: sitk.Image, index_zyx) -> np.ndarray:
    """Continuous array indices ``(..., 3)`` in (z, y, x) order to LPS points ``(..., 3)`` in mm."""
    idx = np.asarray(index_zyx, dtype=float)[..., ::-1]
    m = ijk_to_lps_matrix(image)
    return idx @ m[:3, :3].T + m[:3, 3]


def lps_mm_to_index_zyx(image: sitk.Image, points_lps_mm) -> np.ndarray:
    """LPS points ``(..., 3)`` in mm to continuous array indices ``(..., 3)`` in (z, y, x) order."""
    m = ijk_to_lps_matrix(image)
    rel = _points(points_lps_mm, "points_lps_mm") - m[:3, 3]
    ijk = np.linalg.solve(m[:3, :3], rel.reshape(-1, 3).T).T.reshape(rel.shape)
    return ijk[..., ::-1]


def physical_bounds_lps_mm(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned LPS bounding box ``(low, high)`` of the image's voxel centres, in mm."""
    size = np.asarray(image.GetSize(), dtype=float) - 1.0
    corners = np.array([[i, j, k] for i in (0, size[0]) for j in (0, size[1]) for k in (0, size[2])])
    m = ijk_to_lps_matrix(image)
    world = corners @ m[:3, :3].T + m[:3, 3]
    return world.min(axis=0), world.max(axis=0)


def image_centre_lps_mm(image: sitk.Image) -> np.ndarray:
    """LPS point (mm) at the centre of the image's voxel grid."""
    centre_ijk = (np.asarray(image.GetSize(), dtype=float) - 1.0) / 2.0
    return index_zyx_to_lps_mm(image, centre_ijk[::-1])


def spacing_zyx_mm(spacing_mm) -> np.ndarray:
    """Validated voxel size ``(z, y, x)`` in mm as a float array; ``ValueError`` naming what was received."""
    s = np.asarray(spacing_mm, float)
    if s.shape != (3,) or not np.all(s > 0):
        raise ValueError(f"spacing_mm must be 3 positive voxel sizes (z, y, x) in mm, got {spacing_mm!r}")
    return s
