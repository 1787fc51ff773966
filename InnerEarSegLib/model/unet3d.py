"""A compact 3-D U-Net: per-structure logits on the 96^3 ear box.

Tensors are ``(B, C, Z, Y, X)``. The network is small on purpose (about 0.35 M parameters at
``base_channels=8``): inference on two 96^3 boxes takes about a second on two CPU cores and a full
retrain fits in about an hour of a two-core CPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class UNet3DParams:
    """Architecture parameters, stored in the model manifest (``architecture_params``).

    Parameters
    ----------
    in_channels : int
        Input channels (1: normalised CT).
    n_classes : int
        Output classes including background (6: background + 5 structures; 2: binary labyrinth).
    base_channels : int
        Feature channels at full resolution; doubled at each level down.
    levels : int
        Resolution levels (``levels - 1`` poolings). The box edge must be divisible by ``2**(levels-1)``.
    norm : str
        ``"instance"`` or ``"group"`` (GroupNorm with ``groups`` groups).
    groups : int
        Number of groups for ``norm="group"``.
    coord_box_vox : int
        0: the network sees only the image. Otherwise the edge (voxels) of the ear box: the network
        appends three channels holding each voxel's position in that box, scaled to [-1, 1] (z, y, x).
        The box is centred on the labyrinth and mirrored to left-ear chirality, so position tells
        the three semicircular canals apart where the local image alone does not. A crop passes
        its offset in the box to :meth:`UNet3D.forward`; without one the input is taken to be
        centred in the box (the whole box at inference).
    """

    in_channels: int = 1
    n_classes: int = 6
    base_channels: int = 8
    levels: int = 4
    norm: str = "instance"
    groups: int = 4
    coord_box_vox: int = 0

    def __post_init__(self) -> None:
        if self.norm not in ("instance", "group"):
            raise ValueError(f"norm must be 'instance' or 'group', got {self.norm!r}")
        for name in ("in_channels", "n_classes", "base_channels", "levels", "groups"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if int(self.coord_box_vox) < 0:
            raise ValueError(f"coord_box_vox must be >= 0 (0: no coordinate channels), got {self.coord_box_vox!r}")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2 (background + at least one class), got {self.n_classes}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict) -> "UNet3DParams":
        known = set(cls.__dataclass_fields__)
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown unet3d parameters {sorted(unknown)}; expected a subset of {sorted(known)}")
        return cls(**params)


def _norm(channels: int, params: UNet3DParams) -> nn.Module:
    if params.norm == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    return nn.GroupNorm(min(params.groups, channels), channels)


class _ConvBlock(nn.Sequential):
    """Two (conv 3x3x3 -> norm -> LeakyReLU) layers."""

    def __init__(self, c_in: int, c_out: int, params: UNet3DParams) -> None:
        super().__init__(
            nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), _norm(c_out, params), nn.LeakyReLU(0.01, inplace=True),
            nn.Conv3d(c_out, c_out, 3, padding=1, bias=False), _norm(c_out, params), nn.LeakyReLU(0.01, inplace=True),
        )


class UNet3D(nn.Module):
    """3-D U-Net returning logits ``(B, n_classes, Z, Y, X)`` for an input ``(B, in_channels, Z, Y, X)``.

    Examples
    --------
    >>> net = UNet3D(UNet3DParams(base_channels=4, levels=2))
    >>> net(torch.zeros(1, 1, 8, 8, 8)).shape
    torch.Size([1, 6, 8, 8, 8])
    """

    def __init__(self, params: UNet3DParams | None = None) -> None:
        super().__init__()
        self.params = params or UNet3DParams()
        p = self.params
        widths = [p.base_channels * 2 ** i for i in range(p.levels)]
        self.encoders = nn.ModuleList()
        c_in = p.in_channels + (3 if p.coord_box_vox else 0)
        for w in widths:
            self.encoders.append(_ConvBlock(c_in, w, p))
            c_in = w
        self.pool = nn.MaxPool3d(2)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for w_low, w in zip(widths[:0:-1], widths[-2::-1]):
            self.ups.append(nn.ConvTranspose3d(w_low, w, 2, stride=2))
            self.decoders.append(_ConvBlock(2 * w, w, p))
        self.head = nn.Conv3d(widths[0], p.n_classes, 1)
        if p.coord_box_vox:
            # The coordinate inputs start with zero weights: the network begins as an image-only one
            # and training gives position a use. With random weights on the three smooth ramps, runs
            # from scratch collapsed to all-background for hundreds of iterations (measured).
            with torch.no_grad():
                self.encoders[0][0].weight[:, p.in_channels:] = 0.0

    def forward(self, x: torch.Tensor, offset_vox: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for `x`; `offset_vox` ``(B, 3)`` is each crop's first voxel in the box (coordinate models)."""
        factor = 2 ** (self.params.levels - 1)
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(f"input spatial shape {tuple(x.shape[2:])} must be divisible by {factor}")
        if self.params.coord_box_vox:
            x = torch.cat([x, box_coordinates(x, self.params.coord_box_vox, offset_vox)], dim=1)
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def box_coordinates(x: torch.Tensor, box_vox: int, offset_vox: torch.Tensor | None = None) -> torch.Tensor:
    """Three channels ``(B, 3, Z, Y, X)``: voxel centres of `x` in a box of edge `box_vox`, scaled to [-1, 1].

    `offset_vox` ``(B, 3)`` gives the box index (z, y, x) of each crop's first voxel; None centres
    the input in the box (offset ``(box_vox - size) / 2``, i.e. 0 for the whole box).
    """
    b, shape = x.shape[0], x.shape[2:]
    if offset_vox is None:
        offset = torch.tensor([(box_vox - n) / 2.0 for n in shape], dtype=torch.float32).expand(b, 3)
    else:
        offset = torch.as_tensor(offset_vox, dtype=torch.float32).reshape(b, 3)
    offset = offset.to(x.device)
    channels = []
    for axis, n in enumerate(shape):
        pos = (torch.arange(n, dtype=torch.float32, device=x.device)[None] + offset[:, axis:axis + 1] + 0.5)
        pos = pos * (2.0 / box_vox) - 1.0  # (B, n)
        view = [b, 1, 1, 1]
        view[axis + 1] = n
        channels.append(pos.reshape(view).expand(b, *shape))
    return torch.stack(channels, dim=1).to(x.dtype)


def build_unet3d(params: dict) -> UNet3D:
    """Build the network from a manifest's ``architecture_params`` dictionary."""
    return UNet3D(UNet3DParams.from_dict(params))
