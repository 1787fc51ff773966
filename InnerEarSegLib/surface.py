"""Smoothed closed surfaces per structure, in LPS world millimetres, and atomic mesh writers.

Each label is meshed on its own padded binary mask (``vtkFlyingEdges3D`` at 0.5), so every surface
is closed even where structures touch. Meshing happens in voxel-index space; one affine map
``world = origin + D · diag(spacing) · index`` then places it in the world, which is exact for any
direction matrix, including the mirrored right-ear box grid (triangle winding is reversed when
``det(D) < 0`` so normals still point outwards). Meshes are in LPS, the convention Slicer assumes
for STL/OBJ files without a coordinate-system header.
"""
from __future__ import annotations

import functools
import os
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import SimpleITK as sitk

from .atomic_write import atomic_output_path
from .geometry import ijk_to_lps_matrix

MESH_FORMATS = ("stl", "obj", "ply", "vtp")


@functools.cache
def _vtk() -> types.SimpleNamespace:
    """The VTK classes used here, imported from their own ``vtkmodules``.

    ``import vtk`` loads every VTK module (about 2 s, a fifth of a CLI run); these take 0.2 s.
    """
    from vtkmodules import (vtkCommonCore, vtkCommonDataModel, vtkCommonMath, vtkCommonTransforms,
                            vtkFiltersCore, vtkFiltersGeneral, vtkIOGeometry, vtkIOPLY, vtkIOXML)
    from vtkmodules.util import numpy_support

    names = {
        vtkCommonCore: ("VTK_UNSIGNED_CHAR",),
        vtkCommonDataModel: ("vtkImageData", "vtkPolyData"),
        vtkCommonMath: ("vtkMatrix4x4",),
        vtkCommonTransforms: ("vtkTransform",),
        vtkFiltersCore: ("vtkFlyingEdges3D", "vtkReverseSense", "vtkWindowedSincPolyDataFilter",
                         "vtkPolyDataNormals", "vtkFeatureEdges"),
        vtkFiltersGeneral: ("vtkTransformPolyDataFilter",),
        vtkIOGeometry: ("vtkSTLWriter", "vtkOBJWriter"),
        vtkIOPLY: ("vtkPLYWriter",),
        vtkIOXML: ("vtkXMLPolyDataWriter",),
    }
    classes = {name: getattr(module, name) for module, group in names.items() for name in group}
    return types.SimpleNamespace(numpy_support=numpy_support, **classes)


@dataclass(frozen=True)
class SurfaceOptions:
    """Smoothing of :func:`label_surface`.

    Parameters
    ----------
    smoothing_iterations : int
        Windowed-sinc iterations (0 = no smoothing).
    pass_band : float
        Windowed-sinc pass band (smaller = smoother), in (0, 2).
    pad_vox : int
        Background voxels added around each mask so the surface closes at the image border.
    """

    smoothing_iterations: int = 20
    pass_band: float = 0.05
    pad_vox: int = 2

    def __post_init__(self) -> None:
        if self.smoothing_iterations < 0:
            raise ValueError(f"smoothing_iterations must be >= 0, got {self.smoothing_iterations!r}")
        if not 0.0 < self.pass_band < 2.0:
            raise ValueError(f"pass_band must be in (0, 2), got {self.pass_band!r}")
        if self.pad_vox < 1:
            raise ValueError(f"pad_vox must be >= 1, got {self.pad_vox!r}")


def _mask_to_index_surface(mask_zyx: np.ndarray, offset_xyz: np.ndarray, pad: int):
    """Flying-edges surface of a bool (z, y, x) mask, points in the original image's index (x, y, z)."""
    vtk = _vtk()
    padded = np.pad(mask_zyx.astype(np.uint8), pad)
    image = vtk.vtkImageData()
    image.SetDimensions(padded.shape[2], padded.shape[1], padded.shape[0])
    image.SetOrigin(*(offset_xyz - pad).astype(float))
    image.SetSpacing(1.0, 1.0, 1.0)
    scalars = vtk.numpy_support.numpy_to_vtk(padded.ravel(order="C"), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
    image.GetPointData().SetScalars(scalars)
    fe = vtk.vtkFlyingEdges3D()
    fe.SetInputData(image)
    fe.SetValue(0, 0.5)
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    fe.Update()
    return fe.GetOutput()


def label_surface(labels: sitk.Image, value: int, *, options: SurfaceOptions | None = None):
    """Closed smoothed surface (``vtkPolyData``, LPS mm, outward normals) of ``labels == value``.

    Returns an empty ``vtkPolyData`` when the label is absent.
    """
    vtk = _vtk()

    options = options or SurfaceOptions()
    arr = sitk.GetArrayViewFromImage(labels)
    mask = arr == value
    if not mask.any():
        return vtk.vtkPolyData()
    nz = np.nonzero(mask)
    lo = np.array([a.min() for a in nz])
    hi = np.array([a.max() for a in nz]) + 1
    crop = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    poly = _mask_to_index_surface(crop, lo[::-1].astype(float), options.pad_vox)

    m = ijk_to_lps_matrix(labels)
    matrix = vtk.vtkMatrix4x4()
    for i in range(4):
        for j in range(4):
            matrix.SetElement(i, j, float(m[i, j]))
    transform = vtk.vtkTransform()
    transform.SetMatrix(matrix)
    to_world = vtk.vtkTransformPolyDataFilter()
    to_world.SetInputData(poly)
    to_world.SetTransform(transform)
    current = to_world
    if np.linalg.det(m[:3, :3]) < 0:  # a mirrored grid flips triangle winding
        reverse = vtk.vtkReverseSense()
        reverse.SetInputConnection(current.GetOutputPort())
        current = reverse
    if options.smoothing_iterations > 0:
        smooth = vtk.vtkWindowedSincPolyDataFilter()
        smooth.SetInputConnection(current.GetOutputPort())
        smooth.SetNumberOfIterations(options.smoothing_iterations)
        smooth.SetPassBand(options.pass_band)
        smooth.BoundarySmoothingOff()
        smooth.FeatureEdgeSmoothingOff()
        smooth.NonManifoldSmoothingOn()
        smooth.NormalizeCoordinatesOn()
        current = smooth
    normals = vtk.vtkPolyDataNormals()
    normals.SetInputConnection(current.GetOutputPort())
    normals.SplittingOff()
    normals.ConsistencyOn()
    normals.AutoOrientNormalsOff()
    normals.ComputePointNormalsOn()
    normals.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(normals.GetOutput())
    return out


def structure_surfaces(labels: sitk.Image, values: Mapping[int, str] | None = None, *,
                       options: SurfaceOptions | None = None) -> dict:
    """One closed surface per label value present in `labels`.

    Parameters
    ----------
    labels : SimpleITK.Image, integer
        Label map (any geometry).
    values : mapping int -> str, optional
        Label values to mesh (and their names); default: every non-zero value present.

    Returns
    -------
    dict of int -> vtkPolyData
        Only labels that are present.
    """
    arr = sitk.GetArrayViewFromImage(labels)
    present = [int(v) for v in np.unique(arr) if v != 0]
    wanted = present if values is None else [int(v) for v in values if int(v) in present]
    return {v: label_surface(labels, v, options=options) for v in wanted}


def surface_is_closed(polydata) -> bool:
    """True if the surface has no boundary and no non-manifold edges."""
    vtk = _vtk()

    edges = vtk.vtkFeatureEdges()
    edges.SetInputData(polydata)
    edges.BoundaryEdgesOn()
    edges.NonManifoldEdgesOn()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.Update()
    return polydata.GetNumberOfCells() > 0 and edges.GetOutput().GetNumberOfCells() == 0


def _writer_for(fmt: str):
    vtk = _vtk()

    if fmt == "stl":
        w = vtk.vtkSTLWriter()
        w.SetFileTypeToBinary()
        w.SetHeader("SPACE=LPS")
    elif fmt == "obj":
        w = vtk.vtkOBJWriter()
    elif fmt == "ply":
        w = vtk.vtkPLYWriter()
        w.SetFileTypeToBinary()
    else:
        w = vtk.vtkXMLPolyDataWriter()
        w.SetDataModeToBinary()
    return w


def write_surface(polydata, path: str | os.PathLike, *, mesh_format: str | None = None) -> Path:
    """Write a surface atomically (temporary file + ``os.replace``) as STL, OBJ, PLY or VTP.

    Parameters
    ----------
    polydata : vtkPolyData
        The surface (LPS mm).
    path : path-like
        Output file; its suffix gives the format unless `mesh_format` is set.
    mesh_format : {"stl", "obj", "ply", "vtp"}, optional
    """
    path = Path(path)
    fmt = (mesh_format or path.suffix.lstrip(".")).lower()
    if fmt not in MESH_FORMATS:
        raise ValueError(f"mesh_format must be one of {MESH_FORMATS}, got {fmt!r} (from {str(path)!r})")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output_path(path) as tmp:
        writer = _writer_for(fmt)
        writer.SetFileName(str(tmp))
        writer.SetInputData(polydata)
        if writer.Write() != 1 or not tmp.exists():
            raise OSError(f"VTK could not write {path}")
    return path
