"""Importing an mpunet project folder: best checkpoint, fusion weights, version-dependent scaler,
an InnerEarSeg model package with checksum, and clear errors naming the file."""
from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import pytest
import torch

from InnerEarSegLib.cli import import_mpunet
from InnerEarSegLib.errors import ModelError
from InnerEarSegLib.labels import Structure
from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.model.predictor import build_predictor
from InnerEarSegLib.mpunet.importer import import_project
from InnerEarSegLib.mpunet.predictor import MPUNetPredictor
from InnerEarSegLib.mpunet.project import read_project
from InnerEarSegLib.mpunet.unet2d import MPUNet2D, load_state
from InnerEarSegLib.mpunet.weights_h5 import unet_state_dict_from_h5


def test_best_checkpoint_is_the_highest_val_dice_parsed_from_the_basename(tmp_path, helpers):
    # the folder name has a larger number in it: mpunet's own regex on the full path would be fooled
    root = helpers.write_project(tmp_path / "run_0.99999", checkpoints=(("12", "0.80001"), ("40", "0.79"),
                                                                         ("03", "0.81234")))
    assert read_project(root).weights_path.name == "@epoch_03_val_dice_0.81234.h5"


def test_import_writes_a_verified_package_that_reproduces_the_checkpoint(tmp_path, helpers):
    root = helpers.write_project(tmp_path / "proj")
    manifest = import_project(root, tmp_path / "out" / "paper.safetensors", name="paper")
    loaded = load_model_package(tmp_path / "out" / "paper.safetensors")
    assert manifest.architecture == loaded.manifest.architecture == "mpunet"
    assert loaded.manifest.labels == {0: "background", 1: "labyrinth"}
    p = loaded.manifest.architecture_params
    assert (p["dim"], p["real_space_span_mm"], p["n_classes"], p["fusion"]) == (32, 40.0, 2, "learned")
    assert p["source_weights"] == "@epoch_07_val_dice_0.81234.h5" and not p["scaler_fit_above_bg"]
    np.testing.assert_allclose(p["views_ras"], np.load(root / "views.npz")["arr_0"], atol=1e-12)
    assert loaded.tensors["fusion.weight"].shape == (6, 2)
    # the packaged U-Net gives the same output as one loaded straight from the .h5
    direct = MPUNet2D(n_classes=2, complexity_factor=0.01).eval()
    load_state(direct, unet_state_dict_from_h5(root / "model" / "@epoch_07_val_dice_0.81234.h5", direct.specs))
    predictor = build_predictor(loaded, "cpu")
    assert isinstance(predictor, MPUNetPredictor)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(predictor.net(x), direct(x))


def test_projects_from_mpunet_before_0_2_6_fit_the_scaler_above_the_background(tmp_path, helpers):
    root = helpers.write_project(tmp_path / "old", version="0.2.4")
    assert read_project(root).scaler_fit_above_bg is True


def test_missing_fusion_weights_name_the_expected_file(tmp_path, helpers):
    root = helpers.write_project(tmp_path / "p", fusion=False)
    with pytest.raises(ModelError, match=r"fusion_weights/@epoch_07_val_dice_0\.81234_fusion_weights\.h5"):
        read_project(root)
    assert read_project(root, sum_fusion=True).fusion_path is None


@pytest.mark.parametrize("remove, message", [("views.npz", "views.npz not found"),
                                             ("train_hparams.yaml", "train_hparams.yaml not found")])
def test_missing_project_files_are_named(tmp_path, helpers, remove, message):
    root = helpers.write_project(tmp_path / "p")
    (root / remove).unlink()
    with pytest.raises(ModelError, match=message):
        read_project(root)


def test_views_that_disagree_with_the_hyperparameters_are_refused(tmp_path, helpers):
    root = helpers.write_project(tmp_path / "p")
    np.savez(root / "views.npz", np.eye(3)[:2])
    with pytest.raises(ModelError, match="views.npz has 2 views but train_hparams.yaml fit.views says 6"):
        read_project(root)


def test_hyperparameters_that_do_not_match_the_weights_fail_naming_a_layer(tmp_path, helpers):
    root = helpers.write_project(tmp_path / "p")
    hp = (root / "train_hparams.yaml").read_text().replace("complexity_factor: 0.01", "complexity_factor: 0.02")
    (root / "train_hparams.yaml").write_text(hp)
    with pytest.raises(ModelError, match=r"@epoch_07_val_dice_0\.81234\.h5: layer 'encoder_L0_conv1'"):
        import_project(root, tmp_path / "m.safetensors")


def _cli(argv):
    parser = argparse.ArgumentParser(prog="innerear-seg")
    import_mpunet.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_imports_a_project_and_errors_name_the_missing_folder(tmp_path, helpers, capsys):
    root = helpers.write_project(tmp_path / "p")
    out = tmp_path / "m.safetensors"
    assert _cli(["import-mpunet", str(root), "-o", str(out), "--labels", "inner_ear"]) == 0
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["architecture"] == "mpunet" and manifest["labels"]["1"] == "inner_ear"
    assert "2 classes, 6 views, dim 32" in capsys.readouterr().err
    with pytest.raises(ModelError, match="nowhere"):  # main() turns this into exit code 1
        _cli(["import-mpunet", str(tmp_path / "nowhere"), "-o", str(out)])


def test_without_scored_checkpoints_the_last_epoch_weights_are_used_with_a_warning(tmp_path, helpers, caplog):
    root = helpers.write_project(tmp_path / "p", checkpoints=(("01", "0.5"),))
    model = root / "model"
    (model / "@epoch_01_val_dice_0.5.h5").rename(model / "model_weights.h5")
    (model / "fusion_weights" / "@epoch_01_val_dice_0.5_fusion_weights.h5").rename(
        model / "fusion_weights" / "model_weights_fusion_weights.h5")
    with caplog.at_level(logging.WARNING):
        project = read_project(root)
    assert project.weights_path.name == "model_weights.h5"
    assert "last epoch" in caplog.text


@pytest.mark.parametrize("edit, message", [
    (("model_class_name: UNet", "model_class_name: UNet3D"), "model_class_name 'UNet3D' is not supported"),
    (("out_activation: softmax", "out_activation: sigmoid"), "out_activation 'sigmoid' is not supported"),
    (("dim: 32", "dim: 40"), "dim 40 is not divisible by 2\\*\\*depth = 16"),
    (("n_classes: 2", "n_classes: null"), "'n_classes' is missing or null"),
])
def test_unsupported_hyperparameters_are_refused_naming_the_yaml(tmp_path, helpers, edit, message):
    root = helpers.write_project(tmp_path / "p")
    path = root / "train_hparams.yaml"
    assert edit[0] in path.read_text()
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(ModelError, match=f"train_hparams.yaml.*{message}"):
        read_project(root)


def test_named_classes_are_mapped_to_structures_by_name_so_a_reordered_list_swaps_nothing(tmp_path, helpers):
    root = helpers.write_project(tmp_path / "p", n_classes=3)
    out = tmp_path / "m.safetensors"
    assert _cli(["import-mpunet", str(root), "-o", str(out), "--labels", "vestibule,cochlea"]) == 0
    manifest = load_model_package(out).manifest
    lut = manifest.class_to_label()
    assert lut[1] == Structure.VESTIBULE and lut[2] == Structure.COCHLEA


@pytest.mark.parametrize("labels, message", [
    (None, "the project has 3 classes; name the 2 after background .* with --labels"),
    ("cochlea,stapes", "'stapes' is not a structure of the catalogue"),
])
def test_classes_that_cannot_be_named_from_the_catalogue_are_refused_before_anything_is_written(
        tmp_path, helpers, labels, message):
    root = helpers.write_project(tmp_path / "p", n_classes=3)
    argv = ["import-mpunet", str(root), "-o", str(tmp_path / "m.safetensors")] + (["--labels", labels] if labels else [])
    with pytest.raises(ModelError, match=message):
        _cli(argv)
    assert not (tmp_path / "m.safetensors").exists()
