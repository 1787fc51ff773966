"""Training: a short smoke run on tiny synthetic boxes writes a loadable, honest model package."""
import numpy as np
import pytest

from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.model.predictor import build_predictor
from InnerEarSegLib.training import TRAIN_SEED_START, VALIDATION_SEED_START, TrainConfig
from InnerEarSegLib.training import train
from InnerEarSegLib.training.augment import augment_hu
from InnerEarSegLib.training.validation import dice_per_structure

SIZE = 16


def tiny_source(seed):
    """Five cubes of fluid (0 HU) in bone (2000 HU), jittered by the seed; labels 1-5."""
    rng = np.random.default_rng(seed)
    hu = np.full((SIZE,) * 3, 2000.0, np.float32) + rng.normal(0, 30, (SIZE,) * 3).astype(np.float32)
    labels = np.zeros((SIZE,) * 3, np.uint8)
    for value, (z, y, x) in enumerate([(3, 3, 3), (3, 10, 10), (10, 3, 10), (10, 10, 3), (8, 8, 8)], start=1):
        dz = int(rng.integers(-1, 2))
        labels[z + dz:z + dz + 3, y:y + 3, x:x + 3] = value
    hu[labels > 0] = 0.0
    return hu, labels


def test_two_iteration_smoke_run_writes_a_package_with_provenance(tmp_path):
    config = TrainConfig(minutes=5, base_channels=2, levels=2, batch_size=2, crop_vox=8, n_validation=2,
                         pool_size=4, pool_workers=0, max_iterations=2, threads=1, box_size_vox=SIZE, spacing_mm=0.5)
    out = tmp_path / "tiny.safetensors"
    result = train(out, config, source=tiny_source, command="innerear-seg train --out tiny.safetensors")
    assert result.iterations == 2
    loaded = load_model_package(out)
    m = loaded.manifest
    assert m.architecture == "unet3d" and m.box_size_vox == SIZE and m.spacing_mm == 0.5
    assert m.labels[0] == "background" and m.labels[5] == "posterior"
    assert m.training["command"] == "innerear-seg train --out tiny.safetensors"
    assert m.training["iterations"] == 2 and m.training["epochs"][-1]["iteration"] == 2
    assert set(m.accuracy["validation_dice"]) >= {"cochlea", "posterior", "labyrinth"}
    assert build_predictor(loaded, "cpu").n_classes == 6


def test_training_validation_and_evaluation_seeds_never_overlap():
    config = TrainConfig(n_validation=100)
    assert max(config.validation_seeds) < TRAIN_SEED_START <= config.training_seed(0)
    assert min(config.validation_seeds) == VALIDATION_SEED_START >= 90_000  # 0-89999: evaluation only


def test_dice_is_one_for_identical_labels_and_nan_for_absent_structures():
    labels = np.zeros((4, 4, 4), np.uint8)
    labels[:2] = 1
    dice = dice_per_structure(labels, labels)
    assert dice["cochlea"] == 1.0 and dice["labyrinth"] == 1.0 and np.isnan(dice["posterior"])


def test_augmentation_changes_intensities_but_keeps_the_shape():
    hu = np.zeros((8, 8, 8), np.float32)
    out = augment_hu(hu, np.random.default_rng(3))
    assert out.shape == hu.shape and out.dtype == np.float32


def test_bad_crop_sizes_are_refused_with_the_rule():
    with pytest.raises(ValueError, match="divisible by 8"):
        TrainConfig(crop_vox=60)


def test_cli_refuses_an_output_that_is_not_safetensors(capsys):
    from InnerEarSegLib.cli.train import main

    with pytest.raises(SystemExit) as info:
        main(["--out", "model.pt"])
    assert info.value.code == 2 and ".safetensors" in capsys.readouterr().err


def test_the_command_line_defaults_are_the_library_defaults():
    # `innerear-seg train --out m.safetensors` must be the documented one-hour recipe of the bundled model.
    from InnerEarSegLib.cli.main import build_parser

    args = build_parser().parse_args(["train", "--out", "m.safetensors"])
    config = TrainConfig()
    cli_to_config = {"minutes": "minutes", "seed": "seed", "base_channels": "base_channels", "levels": "levels",
                     "coordinates": "coordinates", "canal_weight": "canal_weight", "batch_size": "batch_size",
                     "crop": "crop_vox", "lr": "learning_rate", "warmup_iterations": "warmup_iterations",
                     "foreground_crops": "foreground_crops", "n_validation": "n_validation",
                     "validate_every": "validate_every_minutes", "pool_size": "pool_size",
                     "pool_fill_minutes": "pool_fill_minutes", "workers": "pool_workers",
                     "worker_duty": "worker_duty", "cbct_fraction": "cbct_fraction",
                     "pathology_rate": "pathology_rate", "threads": "threads", "max_iterations": "max_iterations",
                     "calibrated_fraction": "calibrated_fraction", "randomised_fraction": "randomised_fraction",
                     "centre_offset_mm": "centre_offset_mm", "device": "device",
                     "validation_cases": "validation_cases"}
    for option, field in cli_to_config.items():
        assert getattr(args, option) == getattr(config, field), option


def test_a_run_can_start_from_an_earlier_package_and_records_it(tmp_path):
    from InnerEarSegLib.errors import ModelError

    config = TrainConfig(minutes=5, base_channels=2, levels=2, batch_size=2, crop_vox=8, n_validation=1,
                         pool_size=2, pool_workers=0, max_iterations=1, threads=1, box_size_vox=SIZE, spacing_mm=0.5)
    first = train(tmp_path / "a.safetensors", config, source=tiny_source, command="first")
    init = load_model_package(first.path)
    second = train(tmp_path / "b.safetensors", config, source=tiny_source, command="second", init=init)
    assert second.manifest.training["initialised_from"]["sha256"] == first.manifest.weights_sha256
    assert second.manifest.training["initialised_from"]["training"]["command"] == "first"
    third = train(tmp_path / "t.safetensors", config, source=tiny_source, command="third",
                  init=load_model_package(second.path))
    chain = third.manifest.training["initialised_from"]  # the whole chain of runs, newest first
    assert chain["training"]["command"] == "second"
    assert chain["training"]["initialised_from"]["training"]["command"] == "first"
    with pytest.raises(ModelError, match="does not match"):
        train(tmp_path / "c.safetensors", TrainConfig(**{**config.__dict__, "base_channels": 4}), source=tiny_source,
              init=init)


def test_an_image_only_package_widens_to_coordinate_inputs_without_changing_its_output(tmp_path):
    import torch

    from InnerEarSegLib.model.unet3d import UNet3D, UNet3DParams
    from InnerEarSegLib.training.checkpoint import add_coordinate_inputs

    torch.manual_seed(0)
    plain = UNet3D(UNet3DParams(base_channels=2, levels=2)).eval()
    widened = UNet3D(UNet3DParams(base_channels=2, levels=2, coord_box_vox=16)).eval()
    widened.load_state_dict(add_coordinate_inputs(plain.state_dict()))
    x = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        assert torch.allclose(plain(x), widened(x), atol=1e-5)

    config = TrainConfig(minutes=5, base_channels=2, levels=2, batch_size=2, crop_vox=8, n_validation=1,
                         pool_size=2, pool_workers=0, max_iterations=1, threads=1, box_size_vox=SIZE, spacing_mm=0.5,
                         coordinates=False)
    first = train(tmp_path / "plain.safetensors", config, source=tiny_source)
    assert first.manifest.architecture_params["coord_box_vox"] == 0
    second = train(tmp_path / "coords.safetensors", TrainConfig(**{**config.__dict__, "coordinates": True}),
                   source=tiny_source, init=load_model_package(first.path))
    assert second.manifest.architecture_params["coord_box_vox"] == SIZE
    assert build_predictor(load_model_package(second.path), "cpu").network.encoders[0][0].in_channels == 4


def test_the_loss_ignores_the_dice_of_classes_absent_from_the_batch():
    import torch

    from InnerEarSegLib.training.loss import dice_ce_loss

    target = torch.zeros(1, 8, 8, 8, dtype=torch.long)
    target[0, 2:6, 2:6, 2:6] = 1
    perfect = torch.full((1, 6, 8, 8, 8), -20.0)
    perfect[:, 0] = 20.0
    perfect[0, 0, 2:6, 2:6, 2:6] = -20.0
    perfect[0, 1, 2:6, 2:6, 2:6] = 20.0
    # a perfect prediction of the one present class costs nothing although classes 2-5 are absent
    assert float(dice_ce_loss(perfect, target)) < 1e-3
    # weights raise the cost of a mistake in the weighted class only
    wrong = perfect.clone()
    wrong[0, 1, 2:6, 2:6, 2:6] = -20.0
    wrong[0, 4, 2:6, 2:6, 2:6] = 20.0
    heavy_lateral = torch.tensor([1.0, 1.0, 1.0, 1.0, 5.0, 1.0])
    heavy_cochlea = torch.tensor([1.0, 5.0, 1.0, 1.0, 1.0, 1.0])
    assert float(dice_ce_loss(wrong, target, heavy_cochlea)) > float(dice_ce_loss(wrong, target, heavy_lateral))


def test_the_canals_get_the_canal_weight():
    weights = TrainConfig(canal_weight=4.0).class_weights
    assert weights == (1.0, 1.0, 1.0, 4.0, 4.0, 4.0)


def test_foreground_crops_reach_a_small_structure_in_a_corner_that_uniform_crops_miss():
    from InnerEarSegLib.training.augment import crop_origin_vox

    labels = np.zeros((32, 32, 32), np.uint8)
    labels[20:28, 20:28, 20:28] = 1  # a large structure
    labels[0:2, 0:2, 0:2] = 3  # a thin one in the corner
    rng = np.random.default_rng(0)

    def share_with_corner(foreground):
        hits = 0
        for _ in range(400):
            z, y, x = crop_origin_vox(labels, 16, rng, foreground)
            assert all(0 <= v <= 32 - 16 for v in (z, y, x))
            hits += bool((labels[z:z + 16, y:y + 16, x:x + 16] == 3).any())
        return hits / 400

    # two structures present: about half the foreground crops are placed around the thin one
    assert share_with_corner(1.0) > 0.35
    assert share_with_corner(0.0) < 0.05


def test_foreground_crops_fall_back_to_uniform_when_the_box_has_no_structure():
    from InnerEarSegLib.training.augment import crop_origin_vox

    origins = {crop_origin_vox(np.zeros((24, 24, 24), np.uint8), 8, np.random.default_rng(k), 1.0) for k in range(50)}
    assert len(origins) > 10
    assert all(0 <= v <= 16 for o in origins for v in o)


def test_a_foreground_share_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="foreground_crops"):
        TrainConfig(foreground_crops=1.5)


def test_the_learning_rate_warms_up_then_decays_with_time():
    from InnerEarSegLib.training import learning_rate_at

    config = TrainConfig(learning_rate=2e-3, warmup_iterations=50)
    warm = [learning_rate_at(config, k, 0.0) for k in (0, 24, 49, 80)]
    assert warm[0] < 1e-4 and warm[0] < warm[1] < warm[2]
    assert warm[2] == pytest.approx(2e-3 + 1e-5) and warm[3] == warm[2]
    assert learning_rate_at(config, 500, 0.5) < learning_rate_at(config, 500, 0.1) < warm[2]
    assert learning_rate_at(config, 500, 1.0) == pytest.approx(1e-5)
    assert learning_rate_at(TrainConfig(warmup_iterations=0), 0, 0.0) == pytest.approx(2e-3 + 1e-5)


def test_a_fresh_network_starts_by_predicting_the_class_shares_of_its_training_boxes():
    import torch

    from InnerEarSegLib.model.unet3d import UNet3D
    from InnerEarSegLib.training.loss import class_prior, set_head_bias_to_prior

    boxes = [tiny_source(seed)[1] for seed in range(4)]
    prior = class_prior(boxes)
    assert prior.sum() == pytest.approx(1.0) and prior[0] > 0.8 and (prior[1:] > 0.005).all()
    # a class absent from every box still gets a small, finite share
    assert class_prior([np.zeros((4, 4, 4), np.uint8)])[3] == pytest.approx(1e-4, rel=0.01)
    torch.manual_seed(0)
    net = UNet3D(TrainConfig().params)
    set_head_bias_to_prior(net, boxes)
    with torch.no_grad():
        mean_probs = torch.softmax(net(torch.randn(1, 1, 16, 16, 16)), dim=1).mean(dim=(0, 2, 3, 4)).numpy()
    # most voxels start as background and each structure within a factor 3 of its share (the random
    # weights blur it), instead of 5/6 of the voxels foreground
    assert mean_probs[0] > 0.6
    assert ((mean_probs[1:] > prior[1:] / 3) & (mean_probs[1:] < 3 * prior[1:])).all()


def test_the_default_trains_on_whole_boxes_and_smaller_crops_are_warned_about(tmp_path, caplog):
    # Instance normalisation takes its statistics from the input: a network trained on crops draws thicker canals
    # on the whole box it segments, so the default crop is the box and a smaller one says what it costs.
    assert TrainConfig().crop_vox == TrainConfig().box_size_vox
    config = TrainConfig(minutes=5, base_channels=2, levels=2, batch_size=1, crop_vox=8, n_validation=1,
                         pool_size=2, pool_workers=0, max_iterations=1, threads=1, box_size_vox=SIZE, spacing_mm=0.5)
    with caplog.at_level("WARNING", logger="InnerEarSegLib.training"):
        train(tmp_path / "m.safetensors", config, source=tiny_source)
    assert any("--crop 16 avoids it" in r.getMessage() for r in caplog.records)


def test_the_phantom_source_draws_the_data_mix_it_is_given():
    from InnerEarSegLib.training import PhantomSource

    old = PhantomSource()  # model 2.0.0's data: classic anatomy and appearance, the generator's own offset
    assert {(c["anatomy"], c["appearance"], c["centre_offset_mm"]) for c in map(old.choices, range(50))} \
        == {("classic", "classic", None)}
    mix = PhantomSource(calibrated_fraction=0.8, randomised_fraction=0.6, centre_offset_mm=5.0)
    drawn = [mix.choices(s) for s in range(400)]
    assert 0.7 < np.mean([c["anatomy"] == "calibrated" for c in drawn]) < 0.9
    assert 0.5 < np.mean([c["appearance"] == "randomised" for c in drawn]) < 0.7
    offsets = np.array([c["centre_offset_mm"] for c in drawn])
    assert np.abs(offsets).max() <= 5.0 and np.abs(offsets).max(axis=0).min() > 4.5  # +-5 mm on every axis
    # The options only add choices: a seed's side, protocol and pathology stay what model 2.0.0 saw.
    assert all({k: a[k] for k in ("side", "protocol", "pathologies")} == {k: b[k] for k in ("side", "protocol",
               "pathologies")} for a, b in zip(map(old.choices, range(50)), drawn))


def test_out_of_range_data_options_are_refused():
    with pytest.raises(ValueError, match="randomised_fraction"):
        TrainConfig(randomised_fraction=1.5)
    with pytest.raises(ValueError, match="labyrinth must stay in the box"):
        TrainConfig(centre_offset_mm=12.0)
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="gpu")


def _write_labelled_case(folder, name="case1", *, size=40, spacing=0.3):
    """A CT of bone with five fluid cubes labelled as a right ear (two-ear labels 1-5) and a left ear (11-15)."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    hu = np.full((size, size, 2 * size), 2000.0, np.float32)
    labels = np.zeros(hu.shape, np.uint8)
    for offset, x0 in ((0, 8), (10, size + 8)):  # right ear at low x (patient right in LPS), left at high x
        for value, (z, y, x) in enumerate([(10, 10, 0), (10, 20, 10), (20, 10, 10), (20, 20, 0), (15, 15, 5)],
                                          start=1):
            labels[z:z + 5, y:y + 5, x0 + x:x0 + x + 5] = value + offset
    hu[labels > 0] = 0.0
    for array, suffix in ((hu, "ct"), (labels, "labels")):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing([spacing] * 3)
        sitk.WriteImage(image, str(folder / f"{name}_{suffix}.nii.gz"))
    return labels


def test_a_users_labelled_cases_become_model_boxes_of_each_ear(tmp_path):
    from InnerEarSegLib.box import BoxSpec
    from InnerEarSegLib.training import find_labelled_cases, labelled_ears

    labels = _write_labelled_case(tmp_path / "cases")
    (tmp_path / "cases" / "lonely_ct.nii.gz").write_bytes((tmp_path / "cases" / "case1_ct.nii.gz").read_bytes())
    assert [cid for cid, _, _ in find_labelled_cases(tmp_path / "cases")] == ["case1"]  # a CT without labels: skipped
    ears = labelled_ears(tmp_path / "cases", BoxSpec(size_vox=48, spacing_mm=0.3))
    assert sorted(e.side.value for e in ears) == ["left", "right"]
    for ear in ears:
        assert ear.hu.shape == ear.labels.shape == (48, 48, 48)
        # every structure, each with its whole cube (125 voxels on the same 0.3 mm lattice), fluid where labelled
        assert np.bincount(ear.labels.ravel(), minlength=6)[1:].tolist() == [125] * 5
        assert float(ear.hu[ear.labels > 0].max()) < 1000.0
    assert int((labels > 0).sum()) == 2 * 5 * 125


def test_a_folder_without_labelled_cases_is_refused_naming_what_it_holds(tmp_path):
    from InnerEarSegLib.training import find_labelled_cases

    _write_labelled_case(tmp_path / "c")
    (tmp_path / "c" / "case1_labels.nii.gz").unlink()
    with pytest.raises(ValueError, match=r"found 1 CT\(s\) and 0 label map"):
        find_labelled_cases(tmp_path / "c")


def test_a_run_can_choose_its_best_network_on_the_users_own_cases(tmp_path):
    _write_labelled_case(tmp_path / "mine", "patient7")
    config = TrainConfig(minutes=5, base_channels=2, levels=2, batch_size=1, crop_vox=SIZE, n_validation=1,
                         pool_size=2, pool_workers=0, max_iterations=1, threads=1, box_size_vox=SIZE, spacing_mm=0.3,
                         validation_cases=str(tmp_path / "mine"), device="cpu")
    result = train(tmp_path / "m.safetensors", config, source=tiny_source)
    accuracy = result.manifest.accuracy
    assert "2 labelled ears" in accuracy["measured_on"] and "patient7" in accuracy["measured_on"]
    assert accuracy["validation_seeds"] is None and "synthetic" not in accuracy["note"]
    assert result.manifest.training["device"] == "cpu"


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_training_runs_on_cuda_and_stores_cpu_weights(tmp_path):
    config = TrainConfig(minutes=5, base_channels=2, levels=2, batch_size=2, crop_vox=8, n_validation=1,
                         pool_size=2, pool_workers=0, max_iterations=2, threads=1, box_size_vox=SIZE, spacing_mm=0.5,
                         device="cuda")
    result = train(tmp_path / "g.safetensors", config, source=tiny_source)
    assert result.manifest.training["device"].startswith("cuda")
    assert build_predictor(load_model_package(result.path), "cpu").n_classes == 6


def test_the_command_line_can_ask_for_model_2_0_0s_data():
    from InnerEarSegLib.cli.main import build_parser
    from InnerEarSegLib.training import PhantomSource

    args = build_parser().parse_args(["train", "--out", "m.safetensors", "--calibrated-fraction", "0",
                                      "--randomised-fraction", "0", "--centre-offset-mm", "none"])
    source = PhantomSource(calibrated_fraction=args.calibrated_fraction,
                           randomised_fraction=args.randomised_fraction, centre_offset_mm=args.centre_offset_mm)
    assert source == PhantomSource()  # exactly the sample source of model 2.0.0's run
