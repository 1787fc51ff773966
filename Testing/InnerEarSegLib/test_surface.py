"""Surfaces: closed, at the right world position for any grid (incl. the mirrored right-ear box), written atomically."""
import numpy as np
import pytest
import SimpleITK as sitk
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from InnerEarSegLib.box import BoxSpec, array_to_box_image, make_ear_box
from InnerEarSegLib.labels import Side
from InnerEarSegLib.surface import (MESH_FORMATS, label_surface, structure_surfaces, surface_is_closed,
                                    write_surface)

RADIUS_MM = 2.0


def _sphere_image(side, centre_lps_mm):
    box = make_ear_box((30.0 if side is Side.LEFT else -30.0, 10.0, -5.0), side, BoxSpec(32, 0.3))
    idx = np.indices((32, 32, 32)).reshape(3, -1).T
    inside = np.linalg.norm(box.index_to_lps_mm(idx) - centre_lps_mm, axis=1) <= RADIUS_MM
    return array_to_box_image(inside.reshape(32, 32, 32).astype(np.uint8), box)


def _centre_for(side):
    return np.array([31.2 if side is Side.LEFT else -28.8, 9.1, -4.4])


@pytest.mark.parametrize("side", list(Side))
def test_a_sphere_mesh_sits_at_its_world_position_with_outward_normals(side):
    centre = _centre_for(side)
    surface = label_surface(_sphere_image(side, centre), 1)
    points = vtk_to_numpy(surface.GetPoints().GetData())
    radii = np.linalg.norm(points - centre, axis=1)
    assert abs(radii.mean() - RADIUS_MM) < 0.1 and radii.std() < 0.1
    assert np.allclose(points.mean(axis=0), centre, atol=0.05)
    normals = vtk_to_numpy(surface.GetPointData().GetNormals())
    assert np.mean(np.sum(normals * (points - centre), axis=1) > 0) > 0.99
    mass = vtk.vtkMassProperties()
    mass.SetInputData(surface)
    mass.Update()
    assert mass.GetVolume() == pytest.approx(4 / 3 * np.pi * RADIUS_MM ** 3, rel=0.1)


def test_surfaces_are_closed_even_where_structures_touch_and_reach_the_border():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[0:10, 5:15, 5:15] = 1  # touches the image border
    labels[10:18, 5:15, 5:15] = 2  # touches label 1
    image = sitk.GetImageFromArray(labels)
    image.SetDirection((0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0))  # oblique axes, mirrored
    image.SetSpacing((0.3, 0.4, 0.5))
    surfaces = structure_surfaces(image)
    assert sorted(surfaces) == [1, 2]
    assert all(surface_is_closed(s) for s in surfaces.values())


def test_absent_labels_are_skipped():
    image = sitk.GetImageFromArray(np.zeros((5, 5, 5), np.uint8))
    assert structure_surfaces(image, {1: "cochlea"}) == {}


@pytest.mark.parametrize("fmt", MESH_FORMATS)
def test_every_mesh_format_is_written_and_leaves_no_temporary_file(tmp_path, fmt):
    surface = label_surface(_sphere_image(Side.LEFT, _centre_for(Side.LEFT)), 1)
    path = write_surface(surface, tmp_path / f"Left_cochlea.{fmt}")
    assert path.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_an_unknown_mesh_format_is_refused():
    with pytest.raises(ValueError, match="mesh_format"):
        write_surface(vtk.vtkPolyData(), "x.fbx")


def test_written_meshes_get_normal_file_permissions(tmp_path):
    surface = label_surface(_sphere_image(Side.LEFT, _centre_for(Side.LEFT)), 1)
    assert write_surface(surface, tmp_path / "a.stl").stat().st_mode & 0o044 == 0o044
