"""The U-Net: output shape and parameter validation."""
import pytest
import torch

from InnerEarSegLib.model.unet3d import UNet3D, UNet3DParams


@pytest.mark.parametrize("norm", ["instance", "group"])
def test_logits_have_one_channel_per_class_on_the_input_grid(norm):
    net = UNet3D(UNet3DParams(base_channels=4, levels=3, norm=norm))
    assert net(torch.zeros(1, 1, 16, 16, 16)).shape == (1, 6, 16, 16, 16)


def test_box_sizes_not_divisible_by_the_pooling_factor_are_refused():
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet3D(UNet3DParams(base_channels=2, levels=3))(torch.zeros(1, 1, 10, 16, 16))


def test_unknown_parameters_and_bad_norms_are_named():
    with pytest.raises(ValueError, match="depth"):
        UNet3DParams.from_dict({"depth": 3})
    with pytest.raises(ValueError, match="norm"):
        UNet3DParams(norm="batch")
