"""Enclosure maths of the locator, checked against brute force and simple shapes with known answers."""
import numpy as np
import pytest

from InnerEarSegLib.pockets import BoneLevels, any_within, bin2, enclosed_mask, shifted, without_wide_canals

LEVELS = BoneLevels(bone_hu=2000.0, dense_hu=1100.0, soft_hu=800.0)


@pytest.mark.parametrize("direction", [(0, 0, 1), (0, -1, 0), (1, 1, -1), (-1, -1, -1)])
@pytest.mark.parametrize("n_steps", [1, 2, 5, 6])
def test_any_within_matches_a_brute_force_loop(direction, n_steps):
    a = np.random.default_rng(3).random((9, 10, 11)) > 0.93
    expected = np.zeros_like(a)
    for k in range(1, n_steps + 1):
        expected |= shifted(a, np.asarray(direction) * k)
    np.testing.assert_array_equal(any_within(a, direction, n_steps), expected)


def _ball(shape, centre, radius):
    z, y, x = np.indices(shape)
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius**2


def test_fluid_inside_a_closed_bone_shell_is_enclosed_and_fluid_outside_is_not():
    shape = (40, 40, 40)
    values = np.full(shape, 30.0, dtype=np.float32)  # soft tissue everywhere
    values[_ball(shape, (20, 20, 20), 8)] = 2000.0  # bone ball ...
    values[_ball(shape, (20, 20, 20), 3)] = 20.0  # ... with a fluid cavity (radius 3 voxels)
    mask = enclosed_mask(values, LEVELS, 1.0, radius_mm=6.0, min_directions=14)
    assert mask[20, 20, 20] and mask[_ball(shape, (20, 20, 20), 2)].all()
    assert not mask[~_ball(shape, (20, 20, 20), 3)].any()


def test_fluid_next_to_air_is_never_counted():
    values = np.full((20, 20, 20), 2000.0, dtype=np.float32)
    values[8:12, 8:12, 8:12] = 20.0
    values[8:12, 8:12, 12] = -1000.0  # an air pocket touching the fluid
    mask = enclosed_mask(values, LEVELS, 1.0)
    assert not mask[:, :, 11].any() and mask[9, 9, 9]


def test_wide_canals_are_cut_away_and_narrow_ones_kept():
    shape = (30, 60, 30)
    z, y, x = np.indices(shape)
    wide = (z - 15) ** 2 + (x - 15) ** 2 <= 6**2  # radius 6 voxels = 3 mm at 0.5 mm
    narrow = (z - 15) ** 2 + (x - 5) ** 2 <= 2**2  # radius 1 mm
    kept = without_wide_canals(wide | narrow, 0.5, 2.3)
    assert not kept[wide & ~narrow].any()
    assert kept[narrow & ~wide].all()


def test_bin2_counts_true_voxels_per_block_and_pads_odd_sizes():
    a = np.ones((3, 4, 5), dtype=bool)
    counts = bin2(a)
    assert counts.shape == (2, 2, 3)
    assert counts[0, 0, 0] == 8 and counts[1, 0, 0] == 4 and counts[1, 0, 2] == 2
    assert counts.sum() == a.sum()
