"""RAS (Slicer) <-> LPS (ITK) conversions and image index <-> world mapping, checked on known points."""
import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.geometry import (
    image_centre_lps_mm,
    ijk_to_lps_matrix,
    ijk_to_ras_matrix,
    index_zyx_to_lps_mm,
    lps_mm_to_index_zyx,
    lps_to_ras,
    lps_to_ras_matrix,
    physical_bounds_lps_mm,
    ras_to_lps,
    ras_to_lps_matrix,
)


def oblique_image():
    image = sitk.Image([10, 12, 14], sitk.sitkInt16)
    image.SetSpacing((0.5, 0.6, 1.2))
    image.SetOrigin((3.0, -7.0, 11.0))
    image.SetDirection(sitk.VersorTransform((0.2, -0.4, 0.9), 0.7).GetMatrix())
    return image


def test_patient_left_in_lps_is_negative_x_in_ras():
    # A point 30 mm towards the patient's left and 10 mm anterior.
    np.testing.assert_allclose(lps_to_ras((30.0, -10.0, 5.0)), (-30.0, 10.0, 5.0))
    np.testing.assert_allclose(ras_to_lps((-30.0, 10.0, 5.0)), (30.0, -10.0, 5.0))


def test_point_arrays_round_trip_between_ras_and_lps():
    points = np.random.default_rng(1).normal(size=(5, 3)) * 50
    np.testing.assert_allclose(ras_to_lps(lps_to_ras(points)), points)


def test_bad_point_shape_names_the_parameter():
    with pytest.raises(ValueError, match="points_lps_mm"):
        lps_to_ras((1.0, 2.0))


def test_index_to_world_agrees_with_simpleitk_for_an_oblique_image():
    image = oblique_image()
    for ijk in [(0, 0, 0), (9, 3, 5), (2, 11, 13)]:
        expected = image.TransformIndexToPhysicalPoint(ijk)
        np.testing.assert_allclose(index_zyx_to_lps_mm(image, ijk[::-1]), expected, atol=1e-9)
        np.testing.assert_allclose(lps_mm_to_index_zyx(image, expected), ijk[::-1], atol=1e-9)


def test_ijk_to_ras_matrix_maps_voxels_where_slicer_puts_them():
    image = oblique_image()
    m_ras = ijk_to_ras_matrix(image)
    p_lps = np.array(image.TransformIndexToPhysicalPoint((4, 5, 6)))
    np.testing.assert_allclose((m_ras @ [4, 5, 6, 1])[:3], lps_to_ras(p_lps), atol=1e-9)
    np.testing.assert_allclose(ras_to_lps_matrix(m_ras), ijk_to_lps_matrix(image), atol=1e-12)
    np.testing.assert_allclose(lps_to_ras_matrix(ras_to_lps_matrix(m_ras)), m_ras, atol=1e-12)


def test_bounds_and_centre_hold_every_voxel_centre():
    image = oblique_image()
    low, high = physical_bounds_lps_mm(image)
    pts = np.array([image.TransformIndexToPhysicalPoint((i, j, k)) for i in (0, 9) for j in (0, 11) for k in (0, 13)])
    assert np.all(pts >= low - 1e-9) and np.all(pts <= high + 1e-9)
    np.testing.assert_allclose(image_centre_lps_mm(image), pts.mean(axis=0), atol=1e-9)
