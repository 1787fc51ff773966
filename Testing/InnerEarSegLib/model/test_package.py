"""Model packages: round trip of the manifest and refusal of corrupt, tampered or mismatched files."""
import json

import pytest
import torch

from InnerEarSegLib.errors import ModelError
from InnerEarSegLib.model.package import ModelManifest, load_model_package, save_model_package, sha256_file
from InnerEarSegLib.model.unet3d import UNet3D, UNet3DParams

PARAMS = UNet3DParams(base_channels=2, levels=2)


def _manifest(**changes):
    fields = dict(name="tiny", version="0.0.1", architecture="unet3d", architecture_params=PARAMS.to_dict(),
                  labels={0: "background", 1: "cochlea", 2: "vestibule", 3: "superior", 4: "lateral",
                          5: "posterior"},
                  spacing_mm=0.3, box_size_vox=8, normalisation={"method": "clip_zscore", "clip_hu": [-1000, 3000]},
                  training={"command": "innerear-seg train --out x", "data": "phantoms"},
                  accuracy={"validation_dice": {"cochlea": 0.9}})
    fields.update(changes)
    return ModelManifest(**fields)


@pytest.fixture
def package(tmp_path):
    torch.manual_seed(0)
    net = UNet3D(PARAMS)
    written = save_model_package(tmp_path / "tiny.safetensors", net.state_dict(), _manifest())
    return tmp_path / "tiny.safetensors", written, net


def test_manifest_and_weights_survive_a_save_load_round_trip(package):
    path, written, net = package
    loaded = load_model_package(path)
    assert loaded.manifest == written
    assert loaded.manifest.labels[1] == "cochlea" and loaded.manifest.n_classes == 6
    assert loaded.manifest.weights_sha256 == sha256_file(path)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.tensors[key], value)


def test_package_loads_from_its_manifest_or_its_folder(package):
    path, written, _ = package
    assert load_model_package(path.with_suffix(".json")).manifest == written
    assert load_model_package(path.parent).manifest == written


def test_a_single_flipped_byte_in_the_weights_is_refused_with_a_checksum_error(package):
    path = package[0]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum") as info:
        load_model_package(path)
    assert "tiny.safetensors" in str(info.value) and "Reinstall" in str(info.value)


def test_a_manifest_whose_checksum_was_edited_is_refused(package):
    path = package[0]
    manifest = json.loads(path.with_suffix(".json").read_text())
    manifest["weights_sha256"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="checksum"):
        load_model_package(path)


def test_missing_weights_or_manifest_name_the_missing_file(package):
    path = package[0]
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match=r"tiny\.json not found"):
        load_model_package(path)


def test_pickled_torch_files_are_refused_without_being_opened(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not even read")
    with pytest.raises(ModelError, match="pickled"):
        load_model_package(bad)


def test_manifest_with_unknown_architecture_or_bad_labels_is_refused(package):
    path = package[0]
    manifest = json.loads(path.with_suffix(".json").read_text())
    for key, value, message in (("architecture", "resnet", "unknown architecture"),
                                ("labels", {"1": "cochlea"}, "background")):
        broken = dict(manifest, **{key: value})
        path.with_suffix(".json").write_text(json.dumps(broken))
        with pytest.raises(ModelError, match=message):
            load_model_package(path)


def test_weights_that_do_not_fit_the_architecture_are_refused_when_building_the_predictor(tmp_path):
    from InnerEarSegLib.model.predictor import build_predictor

    net = UNet3D(UNet3DParams(base_channels=4, levels=2))
    save_model_package(tmp_path / "tiny.safetensors", net.state_dict(), _manifest())  # manifest says base 2
    with pytest.raises(ModelError, match="do not match"):
        build_predictor(load_model_package(tmp_path / "tiny.safetensors"), "cpu")


def test_package_files_are_readable_by_others_like_normal_files(package):
    path = package[0]
    assert path.stat().st_mode & 0o044 == 0o044  # not the 0600 of a bare mkstemp


def test_a_renamed_copy_of_a_package_still_loads_and_is_still_verified(package, tmp_path):
    path, written, _ = package
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    (copy_dir / "renamed.safetensors").write_bytes(path.read_bytes())
    (copy_dir / "renamed.json").write_text(path.with_suffix(".json").read_text())
    assert load_model_package(copy_dir / "renamed.safetensors").manifest == written


def test_the_same_weights_always_get_the_same_checksum(package, tmp_path):
    # A rebuilt package (a retraining rerun, an interpolation repeated from its recorded parents) must be
    # recognisable by its checksum; safetensors writes a metadata map in no fixed order, which once gave
    # identical weights two checksums.
    _, written, net = package
    shas = {save_model_package(tmp_path / f"again{k}.safetensors", net.state_dict(), _manifest()).weights_sha256
            for k in range(12)}
    assert shas == {written.weights_sha256}
