"""The PyTorch port of the MultiPlanarUNet 2-D U-Net reproduces the original Keras model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from InnerEarSegLib.mpunet.unet2d import MPUNet2D, _same_pad, load_state, unet_layer_specs
from InnerEarSegLib.mpunet.weights_h5 import unet_state_dict_from_h5


def _reference_net(reference_dir):
    net = MPUNet2D(n_classes=2, complexity_factor=0.01).eval()
    state = unet_state_dict_from_h5(reference_dir / "unet_cf0.01_dim32_2cls.h5", net.specs)
    return load_state(net, state)


def test_port_reproduces_the_keras_softmax_of_the_reference_unet(reference_dir):
    net = _reference_net(reference_dir)
    x = np.load(reference_dir / "unet_input_NHWC.npy")
    expected = np.load(reference_dir / "unet_expected_softmax_NHWC.npy")
    with torch.no_grad():
        got = net(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4


def test_reference_unet_has_the_parameter_count_keras_reports(reference_dir):
    net = _reference_net(reference_dir)
    n = sum(p.numel() for p in net.parameters()) + sum(
        b.numel() for k, b in net.named_buffers() if not k.endswith("num_batches_tracked"))
    assert n == 307_567


def test_full_size_network_has_the_papers_filter_counts_and_62m_parameters():
    specs = unet_layer_specs(n_classes=2, complexity_factor=2)
    by_name = {s.name: s for s in specs}
    assert [by_name[f"encoder_L{i}_conv1"].out_channels for i in range(4)] == [90, 181, 362, 724]
    assert by_name["bottom_conv1"].out_channels == 1448
    n = sum(s.kernel_size ** 2 * s.in_channels * s.out_channels + s.out_channels if s.kind == "conv"
            else 4 * s.out_channels for s in specs)
    assert 61e6 < n < 63e6


def test_even_kernel_same_padding_adds_the_extra_row_and_column_after_like_tensorflow():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    padded = _same_pad(x, 2)
    assert padded.shape == (1, 1, 4, 4)
    assert torch.equal(padded[0, 0, :3, :3], x[0, 0])
    assert padded[0, 0, 3].abs().sum() == 0 and padded[0, 0, :, 3].abs().sum() == 0


def test_batchnorm_uses_the_keras_epsilon():
    net = MPUNet2D(n_classes=2, complexity_factor=0.01)
    assert net.layers["encoder_L0_BN"].eps == pytest.approx(1e-3)


def test_input_not_divisible_by_two_to_the_depth_is_refused_with_the_reason():
    net = MPUNet2D(n_classes=2, complexity_factor=0.01)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth = 16"):
        net(torch.zeros(1, 1, 40, 40))
