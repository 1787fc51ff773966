"""benchmarks/foreign_render.py on a tiny synthetic label map: labels where the map says, fluid dark inside a
dense capsule, projection-domain noise that grows as the dose falls, and the same seed giving the same CT."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from InnerEarSegLib.labels import Side, Structure
from InnerEarSegLib.phantom.raster import Grid

REPO = Path(__file__).resolve().parents[3]


def _module():
    spec = importlib.util.spec_from_file_location("innerear_foreign_render", REPO / "benchmarks" / "foreign_render.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


fr = _module()


def _spheres(grid: Grid, pose) -> np.ndarray:
    """A 2 mm 'vestibule' at the ear origin and a 1.5 mm 'cochlea' 3 mm anterior-medial of it (ear frame)."""
    nz, ny, nx = grid.shape_zyx
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    world = (np.asarray(grid.origin_lps_mm) + np.stack([i, j, k], -1) * np.asarray(grid.spacing_mm))
    p = (world - pose.shift) @ pose.rot
    out = np.zeros(grid.shape_zyx, np.uint8)
    out[np.linalg.norm(p, axis=-1) < 2.0] = Structure.VESTIBULE
    out[np.linalg.norm(p - (-2.0, -2.0, 0.0), axis=-1) < 1.5] = Structure.COCHLEA
    return out


def _scene(seed=0, spacing=0.5):
    rng = np.random.default_rng(seed)
    head, poses = fr.head_poses(rng)
    left = next(p for p in poses if p.side is Side.LEFT)
    n = int(24 / spacing)
    origin = left.shift - 0.5 * (n - 1) * spacing
    grid = Grid((n, n, n), tuple(float(v) for v in origin), (spacing,) * 3)
    return grid, head, poses, left, rng


def test_labels_follow_the_map_and_fluid_is_dark_inside_a_dense_capsule():
    grid, head, poses, left, rng = _scene()
    hu, labels, levels = fr.paint_object(grid, _spheres, head, poses, rng, supersample=2)
    expected = _spheres(grid, left)
    np.testing.assert_array_equal(labels, np.where(expected > 0, expected + Side.LEFT.label_offset, 0))
    fluid = labels == Side.LEFT.label_offset + Structure.VESTIBULE
    centre = fluid & (np.linalg.norm(np.argwhere(np.ones(grid.shape_zyx, bool)).reshape(grid.shape_zyx + (3,))
                                     - np.array(grid.shape_zyx) // 2, axis=-1) < 2)
    assert abs(float(hu[centre].mean()) - levels["fluid"]) < 60.0
    from scipy import ndimage
    shell = ndimage.binary_dilation(labels > 0, iterations=3) & ~ndimage.binary_dilation(labels > 0, iterations=1)
    assert float(np.median(hu[shell])) > 1000.0  # the otic capsule


def test_projection_noise_grows_as_the_dose_falls_and_has_no_offset():
    rng = np.random.default_rng(1)
    hu = np.zeros((2, 64, 64), np.float32)
    hu[:, 16:48, 16:48] = 1500.0
    low = fr.projection_noise(hu, (0.5, 0.5, 0.5), rng, photons=2e3)
    high = fr.projection_noise(hu, (0.5, 0.5, 0.5), rng, photons=2e5)
    assert low.shape == hu.shape
    assert float(low[:, 20:44, 20:44].std()) > 3.0 * float(high[:, 20:44, 20:44].std())
    assert abs(float(low[:, 20:44, 20:44].mean())) < 0.5 * float(low[:, 20:44, 20:44].std())


def test_the_same_seed_gives_the_same_ct_and_an_unknown_style_is_refused():
    grid, head, poses, _, _ = _scene()
    a, _, _ = fr.paint_object(grid, _spheres, head, poses, np.random.default_rng(5))
    b, _, _ = fr.paint_object(grid, _spheres, head, poses, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="style must be one of"):
        fr.render_foreign(_spheres, "mri", 0)


def test_a_turned_labyrinth_is_painted_turned_about_its_ear_origin_in_unturned_bone():
    # evaluate_generalisation places a real labyrinth as it lay in its scanner: pose.rot @ scanner_turn
    grid, head, poses, left, _ = _scene(spacing=0.25)
    a = np.radians(90.0)
    quarter = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    hu, labels, _ = fr.paint_object(grid, fr.turned(_spheres, {Side.LEFT: quarter}), head, poses,
                                    np.random.default_rng(3), supersample=1)
    kz, ky, kx = np.nonzero(labels == Side.LEFT.label_offset + Structure.COCHLEA)
    centre = np.asarray(grid.origin_lps_mm) + np.array([kx.mean(), ky.mean(), kz.mean()]) * 0.25
    np.testing.assert_allclose(centre, left.rot @ quarter @ (-2.0, -2.0, 0.0) + left.shift, atol=0.1)
    plain, _, _ = fr.paint_object(grid, _spheres, head, poses, np.random.default_rng(3), supersample=1)
    far = np.linalg.norm(np.argwhere(np.ones(grid.shape_zyx, bool)).reshape(grid.shape_zyx + (3,)) * 0.25
                         + np.asarray(grid.origin_lps_mm)[::-1] - left.shift[::-1], axis=-1) > 8.0
    np.testing.assert_array_equal(hu[far], plain[far])  # the bone around it is painted as without the turn


def test_the_mdct_slice_profile_does_not_move_the_image_off_its_labels():
    # Until 2026-12-03 the two-slice box profile averaged slices k-1 and k: every foreign MDCT was half a slice
    # (0.25-0.5 mm) off its labels along z, which cost the thin lateral canal most of its measured Dice.
    hu = np.zeros((40, 6, 6), np.float32)
    hu[:21] = 1000.0  # fluid ends at z = 20.5 voxels
    out = fr.bone_kernel(hu, (0.4, 0.4, 0.9), np.random.default_rng(0), style="mdct")[:, 3, 3] / 1000.0
    k = int(np.argmax(out < 0.5))
    edge = k - 1 + (out[k - 1] - 0.5) / (out[k - 1] - out[k])
    assert abs(edge - 20.5) < 0.05
