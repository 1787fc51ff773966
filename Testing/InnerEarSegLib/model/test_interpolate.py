"""Weight-space interpolation: the end points are the two models, the midpoint their average, mismatches refused."""
import pytest
import torch

from InnerEarSegLib.errors import ModelError
from InnerEarSegLib.model.interpolate import main, write_interpolated
from InnerEarSegLib.model.package import ModelManifest, load_model_package, save_model_package
from InnerEarSegLib.model.unet3d import UNet3D, UNet3DParams

PARAMS = UNet3DParams(base_channels=2, levels=2)
LABELS = {0: "background", 1: "cochlea", 2: "vestibule", 3: "superior", 4: "lateral", 5: "posterior"}


def _package(path, seed, params=PARAMS, version="1.0.0"):
    torch.manual_seed(seed)
    manifest = ModelManifest(name="tiny", version=version, architecture="unet3d", architecture_params=params.to_dict(),
                             labels=LABELS, spacing_mm=0.3, box_size_vox=8,
                             normalisation={"method": "clip_zscore", "clip_hu": [-1000, 3000]},
                             training={"command": "innerear-seg train"}, accuracy={"validation_dice": {"cochlea": 0.9}})
    save_model_package(path, UNet3D(params).state_dict(), manifest)
    return load_model_package(path)


def test_alpha_zero_one_and_a_half_give_the_start_the_end_and_their_average(tmp_path):
    start, end = _package(tmp_path / "a.safetensors", 0), _package(tmp_path / "b.safetensors", 1, version="1.1.0")
    for alpha in (0.0, 0.5, 1.0):
        out = tmp_path / f"mix{alpha}.safetensors"
        written = write_interpolated(start.weights_path, end.weights_path, alpha, out, version="1.1.0-rc1")
        mixed = load_model_package(out)  # checksums and settings verify like any package
        for key in sorted(start.tensors):  # every tensor (safetensors returns them in no fixed order)
            want = (1 - alpha) * start.tensors[key] + alpha * end.tensors[key]
            torch.testing.assert_close(mixed.tensors[key], want)
        assert written.version == "1.1.0-rc1" and written.training["interpolated"]["alpha"] == alpha
        assert written.training["interpolated"]["start"]["weights_sha256"] == start.manifest.weights_sha256
        assert "validation_dice" not in written.accuracy  # neither parent's accuracy describes the average
    # the two networks differ (differently seeded), so the midpoint is neither
    conv = "head.weight"
    assert not torch.equal(start.tensors[conv], end.tensors[conv])
    assert not torch.equal(load_model_package(tmp_path / "mix0.5.safetensors").tensors[conv], start.tensors[conv])


def test_different_networks_are_refused_and_an_existing_file_is_never_overwritten(tmp_path, capsys):
    start = _package(tmp_path / "a.safetensors", 0)
    other = _package(tmp_path / "c.safetensors", 2, params=UNet3DParams(base_channels=4, levels=2))
    with pytest.raises(ModelError, match="architecture_params differ"):
        write_interpolated(start.weights_path, other.weights_path, 0.5, tmp_path / "x.safetensors", version="x")
    with pytest.raises(ModelError, match=r"alpha must be in \[0, 1\]"):
        write_interpolated(start.weights_path, start.weights_path, 1.5, tmp_path / "x.safetensors", version="x")
    before = (tmp_path / "c.safetensors").read_bytes()
    code = main([str(start.weights_path), str(start.weights_path), "--alpha", "0.5", "--out",
                 str(tmp_path / "c.safetensors"), "--version", "x"])
    assert code == 1 and "exists" in capsys.readouterr().err
    assert (tmp_path / "c.safetensors").read_bytes() == before
    assert not (tmp_path / "x.safetensors").exists()


def test_the_manifest_says_how_to_remake_the_average_and_keeps_both_parents_history(tmp_path):
    start, end = _package(tmp_path / "a.safetensors", 0), _package(tmp_path / "b.safetensors", 1, version="1.1.0")
    written = write_interpolated(start.weights_path, end.weights_path, 0.3, tmp_path / "m.safetensors", version="1.2.0")
    command = written.training["command"]
    assert "a.safetensors b.safetensors" in command and "--alpha 0.3" in command
    assert written.training["data"].startswith("a weight-space average (0.7 x 1.0.0 + 0.3 x 1.1.0)")
    assert written.training["parents"]["start"] == start.manifest.training
    assert written.training["interpolated"]["end"]["file"] == "b.safetensors"
