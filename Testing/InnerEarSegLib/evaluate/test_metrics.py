import math

import numpy as np
import pytest

from InnerEarSegLib.evaluate.metrics import case_metrics, dice, overlap_metrics


def test_dice_of_two_cubes_shifted_by_half_their_width_is_one_half():
    pred = np.zeros((6, 6, 6), bool)
    ref = np.zeros_like(pred)
    pred[1:3, 1:3, 1:3] = True  # 8 voxels
    ref[1:3, 1:3, 2:4] = True  # 8 voxels, 4 shared
    assert dice(pred, ref) == pytest.approx(2 * 4 / 16)


def test_surface_distances_honour_anisotropic_spacing_in_mm():
    pred = np.zeros((5, 5, 8), bool)
    ref = np.zeros_like(pred)
    pred[2, 2, 1] = True
    ref[2, 2, 1] = True
    ref[2, 2, 4] = True  # 3 voxels along x at 0.5 mm: 1.5 mm away
    m = overlap_metrics(pred, ref, (2.0, 1.0, 0.5))
    # pooled distances: pred->ref [0]; ref->pred [0, 1.5]
    assert m.msd_mm == pytest.approx(0.5)
    assert m.hd95_mm == pytest.approx(np.percentile([0, 0, 1.5], 95))  # 1.35 mm
    assert m.dice == pytest.approx(2 / 3)
    assert m.ref_volume_mm3 == pytest.approx(2 * 2.0 * 1.0 * 0.5)


def test_distance_along_the_thick_axis_uses_its_spacing():
    pred = np.zeros((6, 3, 3), bool)
    ref = np.zeros_like(pred)
    pred[1, 1, 1] = True
    ref[3, 1, 1] = True
    m = overlap_metrics(pred, ref, (2.0, 0.3, 0.3))
    assert m.hd95_mm == pytest.approx(4.0) and m.msd_mm == pytest.approx(4.0) and m.dice == 0.0


def test_an_empty_prediction_has_dice_zero_and_no_distance():
    ref = np.zeros((4, 4, 4), bool)
    ref[1, 1, 1] = True
    m = overlap_metrics(np.zeros_like(ref), ref, (1, 1, 1))
    assert m.dice == 0.0 and math.isnan(m.hd95_mm)


def test_two_empty_masks_have_no_dice_so_means_over_cases_skip_them():
    empty = np.zeros((3, 3, 3), bool)
    assert math.isnan(dice(empty, empty))
    assert math.isnan(overlap_metrics(empty, empty, (1, 1, 1)).dice)


def test_case_metrics_reports_the_labyrinth_and_each_structure_of_both_ears():
    ref = np.zeros((4, 4, 12), np.uint8)
    ref[1, 1, 0:5] = [1, 2, 3, 4, 5]
    ref[1, 1, 6:11] = [11, 12, 13, 14, 15]
    pred = ref.copy()
    pred[1, 1, 0] = 2  # right cochlea voxel called vestibule
    m = case_metrics(pred, ref, (1, 1, 1))
    assert m["labyrinth"].dice == 1.0
    assert m["cochlea"].dice == pytest.approx(2 * 1 / 3)
    assert m["superior"].dice == 1.0


def test_shapes_that_differ_are_refused():
    with pytest.raises(ValueError, match="share a grid"):
        overlap_metrics(np.zeros((2, 2, 2)), np.zeros((3, 2, 2)), (1, 1, 1))
