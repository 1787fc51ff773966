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


def test_coordinate_channels_of_a_crop_are_the_same_voxels_of_the_whole_box():
    from InnerEarSegLib.model.unet3d import box_coordinates

    whole = box_coordinates(torch.zeros(1, 1, 16, 16, 16), 16)
    # voxel centres scaled to [-1, 1]: first voxel -15/16, last +15/16, z varies along axis 0 only
    assert torch.allclose(whole[0, 0, :, 3, 5], torch.linspace(-15 / 16, 15 / 16, 16))
    assert torch.allclose(whole[0, 0, 7], whole[0, 0, 7, 0, 0].expand(16, 16))
    crops = box_coordinates(torch.zeros(2, 1, 8, 8, 8), 16, torch.tensor([[0.0, 4.0, 8.0], [8.0, 2.0, 0.0]]))
    assert torch.equal(crops[0], whole[0, :, 0:8, 4:12, 8:16])
    assert torch.equal(crops[1], whole[0, :, 8:16, 2:10, 0:8])
    # without an offset a smaller input is taken to be centred in the box
    assert torch.equal(box_coordinates(torch.zeros(1, 1, 8, 8, 8), 16)[0], whole[0, :, 4:12, 4:12, 4:12])


def test_a_coordinate_network_uses_the_position_and_takes_crop_offsets():
    torch.manual_seed(0)
    net = UNet3D(UNet3DParams(base_channels=2, levels=2, coord_box_vox=16)).eval()
    assert net.encoders[0][0].in_channels == 4
    with torch.no_grad():  # as after training: the coordinate inputs have weights
        net.encoders[0][0].weight[:, 1:] = torch.randn_like(net.encoders[0][0].weight[:, 1:])
    x = torch.zeros(1, 1, 8, 8, 8)
    with torch.no_grad():
        at_corner = net(x, torch.tensor([[0.0, 0.0, 0.0]]))
        at_far_corner = net(x, torch.tensor([[8.0, 8.0, 8.0]]))
    assert not torch.allclose(at_corner, at_far_corner)


def test_negative_coordinate_box_is_refused():
    with pytest.raises(ValueError, match="coord_box_vox"):
        UNet3DParams(coord_box_vox=-1)


def test_a_fresh_coordinate_network_starts_blind_to_position():
    # zero weights on the coordinate inputs: the untrained network is an image-only one, so
    # position only gets a use once training gives it one
    torch.manual_seed(0)
    net = UNet3D(UNet3DParams(base_channels=4, levels=2, coord_box_vox=16)).eval()
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        a = net(x, torch.tensor([[0.0, 0.0, 0.0]]))
        b = net(x, torch.tensor([[8.0, 8.0, 8.0]]))
    assert torch.equal(a, b)
    assert net.encoders[0][0].weight[:, 1:].abs().sum() == 0
    assert net.encoders[0][0].weight[:, :1].abs().sum() > 0
