"""Reading Keras .h5 weights: named and pre-2019 auto-named layers, loud failures, the fusion layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from InnerEarSegLib.errors import ModelError
from InnerEarSegLib.mpunet.fusion import FusionAccumulator, fuse_views
from InnerEarSegLib.mpunet.unet2d import MPUNet2D, load_state, unet_layer_specs
from InnerEarSegLib.mpunet.weights_h5 import read_fusion_weights, unet_state_dict_from_h5

SPECS = unet_layer_specs(n_classes=2, complexity_factor=0.01)


def _outputs(state):
    net = load_state(MPUNet2D(n_classes=2, complexity_factor=0.01).eval(), state)
    with torch.no_grad():
        return net(torch.linspace(-1, 1, 2 * 32 * 32).reshape(2, 1, 32, 32)).numpy()


def test_auto_named_pre_2019_layers_are_mapped_by_their_order(tmp_path, helpers):
    helpers.write_keras_h5(tmp_path / "named.h5", helpers.random_unet_layers(seed=3))
    helpers.write_keras_h5(tmp_path / "auto.h5", helpers.random_unet_layers(seed=3, auto_names=True))
    named = unet_state_dict_from_h5(tmp_path / "named.h5", SPECS)
    auto = unet_state_dict_from_h5(tmp_path / "auto.h5", SPECS)
    np.testing.assert_array_equal(_outputs(named), _outputs(auto))


def test_kernels_are_transposed_from_hwio_to_oihw_without_flipping(tmp_path, helpers):
    layers = helpers.random_unet_layers(seed=1)
    helpers.write_keras_h5(tmp_path / "w.h5", layers)
    state = unet_state_dict_from_h5(tmp_path / "w.h5", SPECS)
    kernel = dict(layers)["encoder_L0_conv2"]["kernel"]  # (kh, kw, in, out)
    np.testing.assert_allclose(state["layers.encoder_L0_conv2.weight"][4, 2, 0, 1], kernel[0, 1, 2, 4], rtol=1e-6)


def test_a_shape_mismatch_names_the_file_and_the_layer(tmp_path, helpers):
    layers = helpers.random_unet_layers(seed=1)
    name, params = layers[5]
    layers[5] = (name, {k: np.concatenate([v, v[..., :1]], axis=-1) for k, v in params.items()})
    helpers.write_keras_h5(tmp_path / "bad.h5", layers)
    with pytest.raises(ModelError, match=rf"bad\.h5: layer '{name}'.*shape"):
        unet_state_dict_from_h5(tmp_path / "bad.h5", SPECS)


def test_an_extra_weighted_layer_is_refused_not_skipped(tmp_path, helpers):
    layers = helpers.random_unet_layers(seed=1) + [("mystery_dense", {"kernel": np.ones((2, 2)),
                                                                      "bias": np.ones(2)})]
    helpers.write_keras_h5(tmp_path / "extra.h5", layers)
    with pytest.raises(ModelError, match="mystery_dense"):
        unet_state_dict_from_h5(tmp_path / "extra.h5", SPECS)


def test_a_file_for_another_class_count_fails_naming_the_output_layer(tmp_path, helpers):
    helpers.write_keras_h5(tmp_path / "w3.h5", helpers.random_unet_layers(n_classes=3))
    with pytest.raises(ModelError, match="layer 'conv2d'"):
        unet_state_dict_from_h5(tmp_path / "w3.h5", SPECS)


def test_a_file_that_is_not_keras_weights_is_named_in_the_error(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ModelError, match="notes.h5"):
        unet_state_dict_from_h5(bad, SPECS)


def test_fusion_layer_reproduces_the_keras_fusion_output(reference_dir):
    w, b = read_fusion_weights(reference_dir / "fusion_6views_2cls.h5", n_views=6, n_classes=2)
    x = np.load(reference_dir / "fusion_input_NVC.npy")
    expected = np.load(reference_dir / "fusion_expected_NC.npy")
    got = fuse_views(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()
    assert np.abs(got - expected).max() < 1e-4


def test_accumulating_views_one_at_a_time_equals_fusing_them_together(reference_dir):
    w, b = read_fusion_weights(reference_dir / "fusion_6views_2cls.h5", n_views=6, n_classes=2)
    x = torch.from_numpy(np.load(reference_dir / "fusion_input_NVC.npy"))  # (N, V, C)
    acc = FusionAccumulator(n_views=6, shape=(2, x.shape[0]), weight=torch.from_numpy(w), bias=torch.from_numpy(b))
    for v in range(6):
        acc.add(v, x[:, v].T)
    expected = np.load(reference_dir / "fusion_expected_NC.npy")
    assert np.abs(acc.result().T.numpy() - expected).max() < 1e-4


def test_fusion_weights_for_the_wrong_number_of_views_are_refused(reference_dir):
    with pytest.raises(ModelError, match="fusion_6views_2cls.h5.*W has shape"):
        read_fusion_weights(reference_dir / "fusion_6views_2cls.h5", n_views=5, n_classes=2)


def test_weights_nested_in_one_model_group_are_split_by_their_owner_layer(tmp_path, helpers):
    """Multi-GPU checkpoints store the whole template model as one layer group."""
    import h5py

    layers = helpers.random_unet_layers(seed=4)
    helpers.write_keras_h5(tmp_path / "flat.h5", layers)
    with h5py.File(tmp_path / "nested.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"input_1", b"model_1"])
        f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        g = f.create_group("model_1")
        names = [f"{name}/{param}:0" for name, params in layers for param in params]
        g.attrs["weight_names"] = np.array([n.encode() for n in names])
        for (name, params) in layers:
            for param, array in params.items():
                g.create_dataset(f"{name}/{param}:0", data=np.asarray(array, np.float32))
    np.testing.assert_array_equal(_outputs(unet_state_dict_from_h5(tmp_path / "nested.h5", SPECS)),
                                  _outputs(unet_state_dict_from_h5(tmp_path / "flat.h5", SPECS)))
