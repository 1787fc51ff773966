"""Volume nodes (RAS) <-> SimpleITK images (LPS) <-> ``vtkOrientedImageData`` (RAS), voxel for voxel.

The module's conversions between Slicer's RAS world and the library's LPS world all go through
`InnerEarSegLib.geometry` (the one place that knows how the two differ).
"""
from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support

import slicer
from InnerEarSegLib.errors import InputError
from InnerEarSegLib.geometry import ijk_to_ras_matrix, ras_to_lps_matrix


def ijkToWorldMatrix(volumeNode) -> np.ndarray:
    """4x4 IJK -> world RAS matrix of `volumeNode`, a linear parent transform included.

    Raises
    ------
    InputError
        The volume is under a non-linear transform.
    """
    ijkToRas = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(ijkToRas)
    parent = volumeNode.GetParentTransformNode()
    if parent is not None:
        if not parent.IsTransformToWorldLinear():
            raise InputError(f"volume '{volumeNode.GetName()}' is under a non-linear transform; harden the "
                             f"transform (Data module: right-click > Harden transform) and try again.")
        toWorld = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(toWorld)
        vtk.vtkMatrix4x4.Multiply4x4(toWorld, ijkToRas, ijkToRas)
    return np.array([[ijkToRas.GetElement(r, c) for c in range(4)] for r in range(4)])


def volumeNodeToImage(volumeNode):
    """Voxels and world geometry of a scalar volume node as a SimpleITK image in LPS.

    Returns
    -------
    SimpleITK.Image
        3-D image with the node's voxel type; origin, spacing (mm) and direction in LPS.

    Raises
    ------
    InputError
        No voxels, several components per voxel, zero spacing or a non-linear parent transform.
    """
    import SimpleITK as sitk

    name = volumeNode.GetName()
    imageData = volumeNode.GetImageData()
    if imageData is None or imageData.GetPointData().GetScalars() is None or imageData.GetNumberOfPoints() == 0:
        raise InputError(f"volume '{name}' is empty (it holds no voxels); load a CT volume first.")
    if imageData.GetNumberOfScalarComponents() != 1:
        raise InputError(f"volume '{name}' has {imageData.GetNumberOfScalarComponents()} components per voxel "
                         f"(a colour or vector image); select the CT volume itself.")
    dims = imageData.GetDimensions()  # (i, j, k)
    voxels = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars()).reshape(dims[::-1])
    matrix = ras_to_lps_matrix(ijkToWorldMatrix(volumeNode))[:3]  # LPS = matrix @ (i, j, k, 1)
    spacing = np.linalg.norm(matrix[:, :3], axis=0)
    if np.any(spacing <= 0):
        raise InputError(f"volume '{name}' has a zero voxel spacing {tuple(spacing)}; fix its geometry "
                         f"(Volumes module > Volume Information).")
    image = sitk.GetImageFromArray(np.ascontiguousarray(voxels))
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(v) for v in matrix[:, 3]))
    image.SetDirection(tuple(float(v) for v in (matrix[:, :3] / spacing).ravel()))
    return image


def imageToOrientedImageData(image, scalarType: int = vtk.VTK_UNSIGNED_CHAR):
    """A SimpleITK (label) image in LPS as a ``vtkOrientedImageData`` in RAS, voxel for voxel."""
    import SimpleITK as sitk

    voxels = sitk.GetArrayFromImage(image)
    oriented = slicer.vtkOrientedImageData()
    oriented.SetDimensions(*(int(s) for s in image.GetSize()))
    oriented.AllocateScalars(scalarType, 1)
    target = numpy_support.vtk_to_numpy(oriented.GetPointData().GetScalars())
    target[:] = voxels.ravel()
    ijkToRas = ijk_to_ras_matrix(image)
    direction = ijkToRas[:3, :3] / np.asarray(image.GetSpacing(), dtype=float)
    matrix = vtk.vtkMatrix4x4()
    for r in range(3):
        for c in range(3):
            matrix.SetElement(r, c, float(direction[r, c]))
    oriented.SetDirectionMatrix(matrix)
    oriented.SetSpacing(*(float(s) for s in image.GetSpacing()))
    oriented.SetOrigin(*(float(v) for v in ijkToRas[:3, 3]))
    return oriented


def orientedImageWorldPointsRas(oriented, value: int) -> np.ndarray:
    """RAS centres (N, 3) in mm of the voxels of `oriented` that equal `value` (for checks and tests)."""
    extent = oriented.GetExtent()
    dims = [extent[1] - extent[0] + 1, extent[3] - extent[2] + 1, extent[5] - extent[4] + 1]
    if min(dims) <= 0:
        return np.zeros((0, 3))
    voxels = numpy_support.vtk_to_numpy(oriented.GetPointData().GetScalars()).reshape(dims[::-1])
    kji = np.argwhere(voxels == value)
    ijk1 = np.c_[kji[:, ::-1] + np.array(extent[::2]), np.ones(len(kji))]
    matrix = vtk.vtkMatrix4x4()
    oriented.GetImageToWorldMatrix(matrix)
    m = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    return (ijk1 @ m.T)[:, :3]
