"""Multi-planar sampling: mpunet's plane axes, per-image scaler, trilinear samples with a background
fill, and nearest back-mapping in world space."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from InnerEarSegLib.mpunet.sampling import (VolumeGeometry, fit_intensity_scaling, nearest_plane_indices,
                                            plane_grid, sample_planes)
from InnerEarSegLib.mpunet.views import view_basis_lps


def _oblique_image(values_fn, size=(30, 26, 20), spacing=(0.7, 0.9, 1.6)):
    a, b = np.deg2rad(30), np.deg2rad(-20)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    d = rz @ rx
    image = sitk.Image(size, sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetDirection(d.ravel().tolist())
    image.SetOrigin((12.0, -40.0, 7.0))
    geom = VolumeGeometry.of(image)
    zz, yy, xx = np.indices(size[::-1])
    world = geom.origin_lps_mm + np.stack([xx, yy, zz], -1).reshape(-1, 3) @ geom.matrix.T
    arr = values_fn(world).reshape(size[::-1]).astype(np.float32)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


def test_plane_axes_follow_mpunet_including_the_floored_half_span_and_20_extra_planes():
    grid = plane_grid(dim=64, real_space_span_mm=100.7)
    np.testing.assert_allclose(grid.g_mm, np.linspace(-50.0, 50.0, 64))
    bounds = (100.7 + 20 * 100.7 / 63) / 2
    np.testing.assert_allclose(grid.offsets_mm, np.linspace(-bounds, bounds, 84))


def test_robust_scaler_uses_median_and_iqr_of_all_voxels_by_default():
    values = np.concatenate([np.full(100, -1000.0), np.arange(100.0)])
    s = fit_intensity_scaling(values, scaler="RobustScaler", bg="1pct")
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    assert s.bg_value == pytest.approx(-1000.0)
    assert (s.center, s.scale) == pytest.approx((q50, q75 - q25))


def test_scaler_of_mpunet_before_0_2_6_ignores_voxels_at_or_below_the_background():
    values = np.concatenate([np.full(100, -1000.0), np.arange(100.0)])
    s = fit_intensity_scaling(values, scaler="RobustScaler", bg="1pct", fit_above_bg=True)
    q25, q50, q75 = np.percentile(np.arange(100.0), [25, 50, 75])
    assert (s.center, s.scale) == pytest.approx((q50, q75 - q25))


def test_zero_iqr_scales_by_one():
    assert fit_intensity_scaling(np.zeros(50)).scale == 1.0


def test_unknown_scaler_is_refused_with_the_supported_list():
    with pytest.raises(ValueError, match="RobustScaler"):
        fit_intensity_scaling(np.zeros(5), scaler="QuantileTransformer")


def test_samples_of_a_linear_field_are_exact_on_an_oblique_anisotropic_image_and_background_outside():
    coef = np.array([0.5, -1.25, 2.0])
    image = _oblique_image(lambda p: p @ coef + 3.0)
    geom = VolumeGeometry.of(image)
    volume = torch.from_numpy(sitk.GetArrayFromImage(image))
    basis = view_basis_lps((0.3, 0.4, 0.866))
    grid = plane_grid(dim=16, real_space_span_mm=40.0)
    planes = [10, 18, 35]
    got = sample_planes(volume, geom, centre_lps_mm=geom.centre_lps_mm, basis_lps=basis, grid=grid,
                        plane_indices=planes, bg_value=-999.0).numpy()
    a, b, c = np.meshgrid(grid.g_mm, grid.g_mm, grid.offsets_mm[planes], indexing="ij")
    world = geom.centre_lps_mm + np.stack([a, b, c], -1) @ basis.T  # (u, v, plane, 3)
    idx = geom.lps_to_index(world)
    inside = np.all((idx >= 0) & (idx <= np.asarray(geom.size_xyz) - 1), axis=-1)
    expected = np.where(inside, world @ coef + 3.0, -999.0).transpose(2, 0, 1)
    assert inside.any() and (~inside).any()
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_back_mapping_picks_the_nearest_sample_with_ties_rounding_down_and_flags_outside_points():
    grid = plane_grid(dim=5, real_space_span_mm=8.0)  # g = -4, -2, 0, 2, 4
    basis = np.eye(3)
    step = grid.offsets_mm[1] - grid.offsets_mm[0]
    pts = torch.tensor([[-3.0, 0.9, 0.0], [-2.9, 1.1, step / 2], [4.0, -4.0, 0.0], [4.01, 0.0, 0.0]],
                       dtype=torch.float64)
    iu, iv, ip, inside = nearest_plane_indices(pts, centre_lps_mm=(0, 0, 0), basis_lps=basis, grid=grid)
    centre_plane = len(grid.offsets_mm) // 2
    assert iu.tolist()[:3] == [0, 1, 4] and iv.tolist()[:3] == [2, 3, 0]
    assert ip.tolist()[:2] == [centre_plane, centre_plane]
    assert inside.tolist() == [True, True, True, False]


# --- a literal NumPy/SciPy transcription of mpunet's ViewInterpolator, sample_plane_at and
# --- map_real_space_pred (nibabel RAS affine, scipy interpolators), to compare the torch port against

def _mpunet_sample_and_map(image_xyz, affine_ras, view, dim, span, bg, pred_fn):
    from scipy.interpolate import RegularGridInterpolator

    from InnerEarSegLib.mpunet.views import view_basis_ras

    a3 = affine_ras[:3, :3]
    pixdims = np.linalg.norm(a3, axis=0)
    transform = np.diag(pixdims)
    rot = transform @ np.linalg.inv(a3) if np.any(~np.isclose(transform, a3)) else None
    axes = [(np.arange(n) - (n - 1) / 2) * pixdims[i] for i, n in enumerate(image_xyz.shape)]
    intrp = RegularGridInterpolator(axes, image_xyz, bounds_error=False, fill_value=bg, method="linear")
    sample_res = span / (dim - 1)
    bounds = (span + 20 * sample_res) / 2
    offsets = np.linspace(-bounds, bounds, dim + 20)
    basis = view_basis_ras(view)
    hd = span // 2
    xs = np.empty((dim, dim, len(offsets)))
    for k, off in enumerate(offsets):
        grid = np.mgrid[-hd:hd:complex(dim), -hd:hd:complex(dim), off:off:1j]
        real = basis.dot(grid.reshape(3, -1)).T
        if rot is not None:
            real = rot.dot(real.T).T
        xs[..., k] = intrp(real).reshape(dim, dim)
    pred = pred_fn(xs)  # (dim, dim, planes, C)
    g = np.linspace(-hd, hd, dim)
    fill = np.zeros(pred.shape[-1])
    fill[0] = 1.0
    back = RegularGridInterpolator((g, g, offsets), pred, method="nearest", bounds_error=False, fill_value=fill)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in image_xyz.shape], indexing="ij"), -1).reshape(-1, 3)
    real = idx @ a3.T
    real -= real.mean(axis=0)
    mapped = back(real @ np.linalg.inv(basis).T).reshape(image_xyz.shape + (pred.shape[-1],))
    return xs, mapped


def test_torch_sampling_and_back_mapping_match_a_transcription_of_mpunets_numpy_code():
    from InnerEarSegLib.mpunet.views import RAS_TO_LPS, view_basis_ras

    rng = np.random.default_rng(5)
    size_xyz, spacing = (20, 18, 12), np.array([0.9, 1.1, 1.7])
    direction_lps = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    direction_lps *= np.sign(np.linalg.det(direction_lps))
    image_xyz = rng.normal(size=size_xyz).astype(np.float32)
    image = sitk.GetImageFromArray(image_xyz.transpose(2, 1, 0).copy())
    image.SetSpacing(spacing.tolist())
    image.SetDirection(direction_lps.ravel().tolist())
    affine_ras = np.eye(4)
    affine_ras[:3, :3] = RAS_TO_LPS @ direction_lps @ np.diag(spacing)
    view, dim, span, bg = (0.35, -0.55, 0.76), 16, 21.0, -3.0

    def pred_fn(xs):  # any per-pixel function of the slice stands in for the network
        p1 = 1 / (1 + np.exp(-xs))
        return np.stack([1 - p1, p1], axis=-1)

    xs_ref, mapped_ref = _mpunet_sample_and_map(image_xyz, affine_ras, view, dim, span, bg, pred_fn)

    geom = VolumeGeometry.of(image)
    grid = plane_grid(dim=dim, real_space_span_mm=span)
    basis = RAS_TO_LPS @ view_basis_ras(view)
    planes = sample_planes(torch.from_numpy(sitk.GetArrayFromImage(image)), geom, centre_lps_mm=geom.centre_lps_mm,
                           basis_lps=basis, grid=grid, plane_indices=np.arange(len(grid.offsets_mm)),
                           bg_value=bg).numpy()
    np.testing.assert_allclose(planes, xs_ref.transpose(2, 0, 1), atol=1e-4)

    pred = torch.from_numpy(pred_fn(xs_ref).transpose(2, 3, 0, 1).copy())  # (planes, C, u, v)
    zz, yy, xx = np.indices(size_xyz[::-1])
    world = geom.origin_lps_mm + np.stack([xx, yy, zz], -1).reshape(-1, 3) @ geom.matrix.T
    iu, iv, ip, inside = nearest_plane_indices(torch.from_numpy(world), centre_lps_mm=geom.centre_lps_mm,
                                               basis_lps=basis, grid=grid)
    mapped = np.zeros((len(world), 2))
    mapped[:, 0] = 1.0
    mapped[inside.numpy()] = pred[ip[inside], :, iu[inside], iv[inside]].numpy()
    mapped_ref_zyx = mapped_ref.transpose(2, 1, 0, 3).reshape(-1, 2)
    assert 0.2 < inside.float().mean() < 1.0  # the test covers voxels inside and outside the sampled cube
    np.testing.assert_allclose(mapped, mapped_ref_zyx, atol=1e-6)
