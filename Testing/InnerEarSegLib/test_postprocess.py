"""The seed paper's post-processing on images with known answers, including what it does to thin canals."""
import numpy as np
import pytest

from InnerEarSegLib.postprocess import PostprocessOptions, keep_largest_per_structure, postprocess

N, SPACING_MM = 64, 0.3


def _ball_and_canal(canal_diameter_mm=0.9, ball_radius_mm=2.5, canal_radius_mm=3.2):
    """A vestibule-like ball and a canal-like thin torus attached to it, on a 0.3 mm grid."""
    z, y, x = np.mgrid[:N, :N, :N] * SPACING_MM
    c = N * SPACING_MM / 2
    ball = (z - c) ** 2 + (y - c) ** 2 + (x - c - 3) ** 2 <= ball_radius_mm ** 2
    cx = c - canal_radius_mm + ball_radius_mm * 0.5
    rho = np.sqrt((x - cx) ** 2 + (z - c) ** 2)
    canal = ((rho - canal_radius_mm) ** 2 + (y - c) ** 2 <= (canal_diameter_mm / 2) ** 2) & ~ball
    return ball, canal


def _probabilities(ball, canal):
    p = np.zeros((6,) + ball.shape, np.float32)
    p[2][ball] = 1.0  # vestibule
    p[4][canal] = 1.0  # lateral canal
    p[0] = 1.0 - p[1:].sum(axis=0)
    return p


def test_paper_recipe_keeps_the_ball_but_erases_a_0_9_mm_canal_on_a_0_3_mm_grid():
    ball, canal = _ball_and_canal(0.9)
    labels = postprocess(_probabilities(ball, canal), spacing_mm=SPACING_MM)  # σ = 2.5 voxels, Otsu 256 bins
    assert np.mean(labels[ball] == 2) > 0.99
    assert np.mean(labels[canal] == 4) < 0.2  # σ 0.75 mm blurs the 0.45 mm-radius lumen below Otsu's threshold


def test_without_the_gaussian_the_canal_survives_exactly():
    ball, canal = _ball_and_canal(0.9)
    labels = postprocess(_probabilities(ball, canal), options=PostprocessOptions(gaussian=False),
                         spacing_mm=SPACING_MM)
    assert np.array_equal(labels == 2, ball) and np.array_equal(labels == 4, canal)


def test_a_small_sigma_keeps_most_of_the_canal():
    ball, canal = _ball_and_canal(1.0)
    labels = postprocess(_probabilities(ball, canal), options=PostprocessOptions(sigma_vox=1.0),
                         spacing_mm=SPACING_MM)
    assert np.mean(labels[canal] == 4) > 0.9


def test_islands_smaller_than_the_minimum_volume_are_removed_and_larger_ones_kept():
    p = np.zeros((6, 32, 32, 32), np.float32)
    p[1, 4:14, 4:14, 4:14] = 1.0  # 1000 voxels = 27 mm³
    p[3, 20:22, 20:22, 20:22] = 1.0  # 8 voxels = 0.216 mm³
    p[0] = 1.0 - p[1:].sum(axis=0)
    off = PostprocessOptions(gaussian=False, otsu=False)
    kept = postprocess(p, options=off, spacing_mm=SPACING_MM)
    assert (kept == 3).sum() == 0 and (kept == 1).sum() == 1000
    no_removal = postprocess(p, options=PostprocessOptions(gaussian=False, otsu=False, remove_islands=False),
                             spacing_mm=SPACING_MM)
    assert (no_removal == 3).sum() == 8


def test_binary_models_give_a_zero_one_mask():
    p = np.zeros((2, 16, 16, 16), np.float32)
    p[1, 4:12, 4:12, 4:12] = 0.9
    p[0] = 1.0 - p[1]
    labels = postprocess(p, options=PostprocessOptions(gaussian=False), spacing_mm=0.3)
    assert set(np.unique(labels)) == {0, 1} and (labels == 1).sum() == 512


def test_structures_are_the_argmax_of_their_classes_inside_the_foreground():
    p = np.zeros((6, 16, 16, 16), np.float32)
    p[0] = 1.0
    p[:, 4:12, 4:12, 4:8] = np.array([0.1, 0.5, 0.4, 0, 0, 0])[:, None, None, None]
    p[:, 4:12, 4:12, 8:12] = np.array([0.1, 0.3, 0.6, 0, 0, 0])[:, None, None, None]
    labels = postprocess(p, options=PostprocessOptions(gaussian=False), spacing_mm=0.3)
    assert np.all(labels[4:12, 4:12, 4:8] == 1) and np.all(labels[4:12, 4:12, 8:12] == 2)


def test_keep_largest_relabels_stray_pieces_to_their_neighbour():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2:8, 2:8, 2:5] = 1
    labels[2:8, 2:8, 5:8] = 2
    labels[4, 4, 6] = 1  # a stray cochlea voxel inside the vestibule
    cleaned = keep_largest_per_structure(labels)
    assert cleaned[4, 4, 6] == 2 and (cleaned > 0).sum() == (labels > 0).sum()


def test_invalid_options_name_the_parameter():
    with pytest.raises(ValueError, match="sigma_vox"):
        PostprocessOptions(sigma_vox=0)
    with pytest.raises(ValueError, match="probabilities"):
        postprocess(np.zeros((16, 16, 16)))
