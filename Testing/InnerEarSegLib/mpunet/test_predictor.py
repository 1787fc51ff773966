"""The mpunet BoxPredictor puts predictions at the right place in world space: a network that
thresholds its input must reproduce a known object's mask on an oblique, anisotropic CT, for a
left and a (mirrored) right ear box and for the whole volume."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from torch import nn

from InnerEarSegLib.box import make_ear_box
from InnerEarSegLib.labels import Side
from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.model.predictor import build_predictor
from InnerEarSegLib.mpunet.importer import import_project
from InnerEarSegLib.mpunet.predictor import MPUNetParams, MPUNetPredictor
from InnerEarSegLib.mpunet.sampling import VolumeGeometry, fit_intensity_scaling

SEMI_AXES_MM = np.array([6.0, 4.0, 3.0])
OBJECT_OFFSET_MM = np.array([3.0, -2.0, 1.5])  # from the image centre; breaks every mirror symmetry


class ThresholdNet(nn.Module):
    """Outputs class 1 where the scaled input exceeds ``threshold`` (one-hot probabilities)."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fg = (x > self.threshold).float()
        return torch.cat([1 - fg, fg], dim=1)


def _oblique_ct():
    """A CT (HU) with an ellipsoid of bone (+1000) in air (-1000), on a rotated anisotropic grid."""
    size, spacing = (70, 60, 40), (0.45, 0.5, 0.8)
    a, b = np.deg2rad(25), np.deg2rad(15)
    d = (np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
         @ np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]]))
    ref = sitk.Image(size, sitk.sitkFloat32)
    ref.SetSpacing(spacing)
    ref.SetDirection(d.ravel().tolist())
    ref.SetOrigin((-10.0, 5.0, 30.0))
    geom = VolumeGeometry.of(ref)
    centre = geom.centre_lps_mm + OBJECT_OFFSET_MM
    zz, yy, xx = np.indices(size[::-1])
    world = geom.origin_lps_mm + np.stack([xx, yy, zz], -1).reshape(-1, 3) @ geom.matrix.T
    arr = np.where(_inside(world, centre), 1000.0, -1000.0).reshape(size[::-1]).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    image.CopyInformation(ref)
    return image, centre


def _inside(points, centre):
    return (((points - centre) / SEMI_AXES_MM) ** 2).sum(-1) <= 1


def _threshold_predictor(image, sampling_centre="box", **kw):
    views = np.random.default_rng(0).normal(size=(6, 3))
    views[:, 2] = np.abs(views[:, 2])
    params = MPUNetParams(n_classes=2, dim=64, real_space_span_mm=32.0,
                          views_ras=tuple(map(tuple, views / np.linalg.norm(views, axis=1, keepdims=True))),
                          complexity_factor=0.01, fusion="sum", sampling_centre=sampling_centre)
    scaling = fit_intensity_scaling(sitk.GetArrayViewFromImage(image), scaler=params.scaler, bg=params.bg_value)
    return MPUNetPredictor(ThresholdNet((0.0 - scaling.center) / scaling.scale), params, batch_size=48, **kw)


@pytest.fixture(scope="module")
def oblique_ct():
    return _oblique_ct()


@pytest.mark.slow
@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
def test_thresholding_net_reproduces_the_object_at_its_world_position_in_an_ear_box(oblique_ct, side):
    image, centre = oblique_ct
    box = make_ear_box(centre + np.array([1.0, 2.0, -1.0]), side)
    probs = _threshold_predictor(image).predict(image, box)
    assert probs.shape == (2, 96, 96, 96) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    world = box.index_to_lps_mm(np.indices(box.spec.shape_zyx).reshape(3, -1).T)
    truth = _inside(world, centre)
    mask = probs.argmax(0).ravel() == 1
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert dice > 0.93
    # the predicted object sits where it is: centroid within a fraction of a voxel of the truth's
    np.testing.assert_allclose(world[mask].mean(0), world[truth].mean(0), atol=0.15)
    # disagreements only at the surface (CT voxels up to 0.8 mm, plane spacing 0.51 mm)
    radius = np.sqrt((((world - centre) / SEMI_AXES_MM) ** 2).sum(-1))
    assert np.all(np.abs(radius[mask != truth] - 1) * SEMI_AXES_MM.min() < 1.0)


def test_whole_volume_prediction_is_centred_on_the_image_and_maps_back_to_every_voxel(oblique_ct):
    image, _ = oblique_ct
    probs = _threshold_predictor(image).predict_volume(image)
    truth = sitk.GetArrayFromImage(image) > 0
    assert probs.shape == (2,) + truth.shape
    mask = probs.argmax(0) == 1
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.99


def test_box_points_outside_the_sampled_cube_are_background(oblique_ct):
    image, centre = oblique_ct
    predictor = _threshold_predictor(image)
    far_point = torch.tensor([[1000.0, 0.0, 0.0]], dtype=torch.float64)
    far = predictor._predict_points(image, [(1, lambda: far_point)],
                                    centre_lps_mm=centre)
    np.testing.assert_array_equal(far[:, 0], [1.0, 0.0])


@pytest.mark.slow
def test_image_centred_sampling_gives_the_box_the_same_answer_as_the_whole_scan_run(oblique_ct):
    image, centre = oblique_ct
    box = make_ear_box(centre, Side.LEFT)
    predictor = _threshold_predictor(image, sampling_centre="image")
    from_box = predictor.predict(image, box)[1] > 0.5
    whole = predictor.predict_volume(image)[1].astype(np.float32)
    whole_image = sitk.GetImageFromArray(whole)
    whole_image.CopyInformation(image)
    on_box = sitk.GetArrayFromImage(sitk.Resample(whole_image, box.reference_image(), sitk.Transform(),
                                                  sitk.sitkNearestNeighbor, 0.0)) > 0.5
    assert np.mean(from_box == on_box) > 0.98


@pytest.mark.slow
def test_imported_hand_set_threshold_unet_finds_the_object_end_to_end(tmp_path, helpers, oblique_ct, caplog):
    """A real .h5 U-Net (weights set by hand to threshold its input) through import, package, registry
    and prediction on a mirrored right-ear box; the expected duration is announced first."""
    image, centre = oblique_ct
    scaling = fit_intensity_scaling(sitk.GetArrayViewFromImage(image))
    threshold = (0.0 - scaling.center) / scaling.scale
    assert threshold > 0  # the ReLU path passes the bright object only
    views = np.random.default_rng(3).normal(size=(6, 3))
    views[:, 2] = np.abs(views[:, 2])
    root = helpers.write_project(tmp_path / "p", dim=64, real_space_span=32.0, views=views, fusion=False,
                                 layers=helpers.threshold_unet_layers(threshold=threshold))
    import_project(root, tmp_path / "m.safetensors", sum_fusion=True)
    predictor = build_predictor(load_model_package(tmp_path / "m.safetensors"), "cpu")
    predictor.batch_size = 64
    box = make_ear_box(centre + np.array([-1.0, 0.5, 2.0]), Side.RIGHT)
    messages = []
    with caplog.at_level(logging.INFO, logger="InnerEarSegLib.mpunet"):
        probs = predictor.predict(image, box, progress=lambda stage, f, m: messages.append(m))
    assert any("expected about" in r.getMessage() for r in caplog.records)
    assert any("expected about" in m for m in messages[:2])
    assert probs.shape == (2, 96, 96, 96) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    world = box.index_to_lps_mm(np.indices(box.spec.shape_zyx).reshape(3, -1).T)
    truth = _inside(world, centre)
    mask = probs.argmax(0).ravel() == 1
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.93
    np.testing.assert_allclose(world[mask].mean(0), world[truth].mean(0), atol=0.15)
