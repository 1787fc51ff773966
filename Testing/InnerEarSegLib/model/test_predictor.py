"""Box predictor: probabilities on the box grid, deterministic on the CPU, pluggable architectures."""
import dataclasses

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from InnerEarSegLib.box import BoxSpec, make_ear_box
from InnerEarSegLib.errors import ModelError
from InnerEarSegLib.labels import Side
from InnerEarSegLib.model.intensity import normalise_hu
from InnerEarSegLib.model.package import ModelManifest, load_model_package, save_model_package
from InnerEarSegLib.model.predictor import build_predictor, register_architecture
from InnerEarSegLib.model.unet3d import UNet3D, UNet3DParams

SPEC = BoxSpec(size_vox=16, spacing_mm=0.5)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    torch.manual_seed(0)
    params = UNet3DParams(base_channels=4, levels=3)
    manifest = ModelManifest(name="tiny", version="0", architecture="unet3d", architecture_params=params.to_dict(),
                             labels={i: n for i, n in enumerate(["background", "cochlea", "vestibule", "superior",
                                                                  "lateral", "posterior"])},
                             spacing_mm=SPEC.spacing_mm, box_size_vox=SPEC.size_vox,
                             normalisation={"method": "clip_zscore", "clip_hu": [-1000, 3000]})
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model_package(path, UNet3D(params).state_dict(), manifest)
    return load_model_package(path)


def _ct():
    rng = np.random.default_rng(0)
    img = sitk.GetImageFromArray(rng.normal(500, 400, (30, 30, 30)).astype(np.float32))
    img.SetSpacing((0.4, 0.4, 0.4))
    img.SetOrigin((-6.0, -6.0, -6.0))
    return img


def test_probabilities_cover_the_box_grid_and_sum_to_one(loaded):
    predictor = build_predictor(loaded, "cpu")
    probs = predictor.predict(_ct(), make_ear_box((0.0, 0.0, 0.0), Side.LEFT, SPEC))
    assert probs.shape == (6, 16, 16, 16) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)


def test_cpu_predictions_are_bitwise_repeatable_and_leave_torch_settings_alone(loaded):
    predictor = build_predictor(loaded, "cpu")
    box = make_ear_box((0.5, 0.0, -0.5), Side.RIGHT, SPEC)
    first = predictor.predict(_ct(), box)
    second = predictor.predict(_ct(), box)
    assert np.array_equal(first, second)
    assert not torch.are_deterministic_algorithms_enabled()


def test_a_box_of_the_wrong_size_is_refused(loaded):
    predictor = build_predictor(loaded, "cpu")
    with pytest.raises(ValueError, match="expects 16"):
        predictor.predict(_ct(), make_ear_box((0.0, 0.0, 0.0), Side.LEFT, BoxSpec(size_vox=8, spacing_mm=0.5)))


def test_other_architectures_plug_in_through_the_registry(loaded, monkeypatch):
    from InnerEarSegLib.model import predictor as predictor_module

    class Constant:
        n_classes = 2
        device = torch.device("cpu")

        def __init__(self, loaded, device):
            self.manifest = loaded.manifest

        def predict(self, image, box, *, cancel=None, progress=None):
            return np.full((2,) + box.spec.shape_zyx, 0.5, np.float32)

    monkeypatch.setattr(predictor_module, "_REGISTRY", dict(predictor_module._REGISTRY))
    register_architecture("constant-test", Constant)
    manifest = dataclasses.replace(loaded.manifest, architecture="constant-test",
                                   labels={0: "background", 1: "labyrinth"})
    predictor = build_predictor(dataclasses.replace(loaded, manifest=manifest), "cpu")
    assert predictor.predict(_ct(), make_ear_box((0.0, 0.0, 0.0), Side.LEFT, SPEC)).shape == (2, 16, 16, 16)


def test_unknown_architecture_without_a_builder_is_a_model_error(loaded):
    manifest = dataclasses.replace(loaded.manifest, architecture="nonexistent")
    with pytest.raises(ModelError, match="no predictor"):
        build_predictor(dataclasses.replace(loaded, manifest=manifest), "cpu")


def test_normalisation_makes_mdct_and_dimmer_cbct_grey_values_comparable():
    rng = np.random.default_rng(1)
    anatomy = rng.random((8, 8, 8)) > 0.5
    mdct = np.where(anatomy, 2200.0, 50.0)
    cbct = np.where(anatomy, 1300.0, 30.0)  # cone-beam: dense bone well below MDCT
    a, b = normalise_hu(mdct), normalise_hu(cbct)
    np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.gpu
def test_cuda_prediction_matches_the_cpu_within_mixed_precision_tolerance(loaded):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    box = make_ear_box((0.0, 0.0, 0.0), Side.LEFT, SPEC)
    cpu = build_predictor(loaded, "cpu").predict(_ct(), box)
    gpu = build_predictor(loaded, "cuda").predict(_ct(), box)
    np.testing.assert_allclose(gpu, cpu, atol=2e-2)


def test_a_gpu_out_of_memory_error_falls_back_to_the_cpu_with_a_warning(loaded, monkeypatch, caplog):
    predictor = build_predictor(loaded, "cpu")
    expected = predictor.predict_array(np.zeros((16, 16, 16), np.float32))
    real_run = predictor._run

    def run(x, device):
        if device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_run(x, device)

    predictor.device = torch.device("cuda")  # pretend the predictor was built on a GPU
    monkeypatch.setattr(predictor, "_run", run)
    monkeypatch.setattr(predictor.network, "to", lambda device: predictor.network)
    with caplog.at_level("WARNING"):
        probs = predictor.predict_array(np.zeros((16, 16, 16), np.float32))
    assert predictor.device.type == "cpu" and "falling back to the CPU" in caplog.text
    assert np.array_equal(probs, expected)


def _parameters(function) -> list[tuple[str, object, object]]:
    import inspect

    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", ["unet3d", "mpunet"])
def test_both_predictors_implement_everything_the_protocol_states(name):
    from InnerEarSegLib.model.predictor import BoxPredictor, UNet3DPredictor
    from InnerEarSegLib.mpunet.predictor import MPUNetPredictor

    cls = {"unet3d": UNet3DPredictor, "mpunet": MPUNetPredictor}[name]
    assert _parameters(cls.predict) == _parameters(BoxPredictor.predict)


def test_the_unet_reports_the_end_of_its_network_pass_and_names_the_model(loaded):
    from InnerEarSegLib.model.predictor import BoxPredictor

    predictor = build_predictor(loaded, "cpu")
    assert isinstance(predictor, BoxPredictor) and predictor.manifest.name == "tiny"
    heard = []
    predictor.predict(_ct(), make_ear_box((0.0, 0.0, 0.0), Side.LEFT, SPEC), progress=lambda *a: heard.append(a))
    assert heard and heard[-1][:2] == ("predict", 1.0)
