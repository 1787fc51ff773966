"""Fixtures of the fault-injection suite: a small CT, a tiny seeded model and one real segmentation."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import SimpleITK as sitk


@pytest.fixture(scope="package")
def small_ct(tmp_path_factory) -> Path:
    from InnerEarSegLib.phantom.generate import generate

    ct, _, _ = generate(21, matrix=384, slices=80)
    path = tmp_path_factory.mktemp("ct") / "case21_ct.nrrd"
    sitk.WriteImage(ct, str(path))
    return path


@pytest.fixture(scope="package")
def tiny_model(tmp_path_factory) -> Path:
    """A very small U-Net, initialised with torch.manual_seed(0): every run predicts the same."""
    import torch

    from InnerEarSegLib.model.package import ModelManifest, save_model_package
    from InnerEarSegLib.model.unet3d import UNet3D, UNet3DParams

    params = UNet3DParams(n_classes=6, base_channels=2, levels=3)
    manifest = ModelManifest(name="tiny", version="test", architecture="unet3d",
                             architecture_params=dataclasses.asdict(params),
                             labels={0: "background", 1: "cochlea", 2: "vestibule", 3: "superior", 4: "lateral",
                                     5: "posterior"}, spacing_mm=0.3, box_size_vox=96,
                             normalisation={"method": "clip_zscore", "clip_hu": [-1000, 3000]})
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    torch.manual_seed(0)
    save_model_package(path, UNet3D(params).state_dict(), manifest)
    return path


@pytest.fixture(scope="package")
def segmented(small_ct, tiny_model):
    """(result, image) of one real run, reused by tests that only exercise writing."""
    from InnerEarSegLib.imageio import read_image
    from InnerEarSegLib.options import SegmentOptions
    from InnerEarSegLib.pipeline import segment

    image = read_image(small_ct)
    return segment(image, SegmentOptions(model_path=tiny_model, device="cpu")), image


@pytest.fixture
def cached_pipeline(monkeypatch, segmented):
    """`innerear-seg segment` runs the real CLI and writer, with the pipeline's result computed once."""
    import InnerEarSegLib.pipeline as pipeline

    result, _ = segmented
    calls = []

    def fake_segment(image, options=None, progress=None, cancel=None, **kwargs):
        calls.append(options)
        ears = result.ears if options.meshes else tuple(dataclasses.replace(e, meshes={}) for e in result.ears)
        return dataclasses.replace(result, ears=ears, options=options, input_info=dict(result.input_info))

    monkeypatch.setattr(pipeline, "segment", fake_segment)
    return calls
