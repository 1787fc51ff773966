"""An imported MultiPlanarUNet plugs into the same pipeline as the bundled model: its binary output is
post-processed, split into structures and assessed per ear."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.labels import Side
from InnerEarSegLib.mpunet.importer import import_project
from InnerEarSegLib.mpunet.sampling import fit_intensity_scaling


@pytest.mark.slow
def test_segment_with_an_imported_mpunet_model_gives_an_assessed_ear(tmp_path, helpers):
    import InnerEarSegLib
    from InnerEarSegLib.options import RoiHint, SegmentOptions

    # a bright ellipsoid in fatty tissue in air (a CT's three populations, for the input gate); the hand-set
    # U-Net thresholds it at 0 HU (views: random, upper hemisphere)
    image = sitk.GetImageFromArray(np.full((48, 56, 64), -1000.0, np.float32))
    image.SetSpacing((0.5, 0.5, 0.6))
    zz, yy, xx = np.indices((48, 56, 64))
    arr = sitk.GetArrayFromImage(image)
    arr[((xx - 32) / 26.0) ** 2 + ((yy - 28) / 22.0) ** 2 + ((zz - 24) / 20.0) ** 2 <= 1] = -100.0
    arr[((xx - 32) / 10.0) ** 2 + ((yy - 28) / 8.0) ** 2 + ((zz - 24) / 6.0) ** 2 <= 1] = 1000.0
    ct = sitk.GetImageFromArray(arr)
    ct.CopyInformation(image)
    s = fit_intensity_scaling(arr)
    views = np.random.default_rng(7).normal(size=(6, 3))
    views[:, 2] = np.abs(views[:, 2])
    root = helpers.write_project(tmp_path / "p", dim=32, real_space_span=32.0, views=views, fusion=False,
                                 layers=helpers.threshold_unet_layers(threshold=(0 - s.center) / s.scale))
    model = tmp_path / "m.safetensors"
    import_project(root, model, sum_fusion=True)
    centre = ct.TransformContinuousIndexToPhysicalPoint((32.0, 28.0, 24.0))
    result = InnerEarSegLib.segment(ct, SegmentOptions(model_path=model, device="cpu", meshes=False,
                                                       roi=(RoiHint(tuple(centre), Side.LEFT),)))
    assert result.model["architecture"] == "mpunet"
    (ear,) = result.ears
    assert ear.labels_box.shape == (96, 96, 96) and ear.labels_box.any()
    assert set(np.unique(ear.labels_box)) <= set(range(6))
    assert ear.assessment is not None
