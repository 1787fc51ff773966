"""The per-ear box: lattice snapping, mirroring of right ears, exact placement back in world space."""
import numpy as np
import SimpleITK as sitk

from InnerEarSegLib.box import BoxSpec, make_ear_box, place_box_labels, resample_to_box
from InnerEarSegLib.labels import Side


def _world_image_with_marker(marker_lps_mm, spacing=0.3, size=200):
    """An identity image whose single bright voxel sits at `marker_lps_mm`."""
    img = sitk.Image([size] * 3, sitk.sitkFloat32)
    img.SetSpacing([spacing] * 3)
    img.SetOrigin([-spacing * size / 2] * 3)
    idx = img.TransformPhysicalPointToIndex(marker_lps_mm)
    img[idx] = 1000.0
    return img, np.array(img.TransformIndexToPhysicalPoint(idx))


def test_box_centre_is_snapped_to_the_lattice_within_half_a_voxel():
    box = make_ear_box((10.07, -3.31, 2.0), Side.LEFT, BoxSpec(size_vox=8, spacing_mm=0.3))
    assert np.all(np.abs(np.array(box.centre_lps_mm) - (10.07, -3.31, 2.0)) <= 0.15 + 1e-9)
    corner = np.array(box.origin_lps_mm)
    assert np.allclose(corner / 0.3, np.round(corner / 0.3), atol=1e-6)


def test_right_ear_box_is_mirrored_so_array_x_points_laterally():
    spec = BoxSpec(size_vox=20, spacing_mm=0.3)
    for side, lateral_sign in ((Side.LEFT, 1.0), (Side.RIGHT, -1.0)):
        box = make_ear_box((0.0, 0.0, 0.0), side, spec)
        p0 = box.index_to_lps_mm(np.array([0, 0, 0]))
        p1 = box.index_to_lps_mm(np.array([0, 0, 1]))
        assert np.sign(p1[0] - p0[0]) == lateral_sign  # +x index moves towards the patient's outside


def test_world_point_survives_extract_and_place_round_trip():
    marker = (1.2, -0.9, 0.6)
    img, marker_world = _world_image_with_marker(marker)
    spec = BoxSpec(size_vox=20, spacing_mm=0.3)
    for side in Side:
        box = make_ear_box((0.5, -0.5, 0.5), side, spec)
        arr = sitk.GetArrayFromImage(resample_to_box(img, box, interpolator=sitk.sitkNearestNeighbor,
                                                     default_value=0))
        peak = np.array(np.unravel_index(np.argmax(arr), arr.shape))
        assert np.allclose(box.index_to_lps_mm(peak), marker_world, atol=1e-6)
        placed = place_box_labels([(box, (arr > 0).astype(np.uint8))])
        hit = np.argwhere(sitk.GetArrayFromImage(placed) > 0)
        assert len(hit) == 1
        assert np.allclose(placed.TransformIndexToPhysicalPoint([int(v) for v in hit[0][::-1]]),
                           marker_world, atol=1e-6)


def test_lps_to_index_inverts_index_to_lps():
    box = make_ear_box((31.0, 4.0, -7.0), Side.RIGHT)
    idx = np.array([[3.0, 50.5, 91.25], [0.0, 0.0, 0.0]])
    assert np.allclose(box.lps_mm_to_index(box.index_to_lps_mm(idx)), idx)
