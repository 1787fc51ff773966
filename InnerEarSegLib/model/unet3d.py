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
    """

    in_channels: int = 1
    n_classes: int = 6
    base_channels: int = 8
    levels: int = 4
    norm: str = "instance"
    groups: int = 4

    def __post_init__(self) -> None:
        if self.norm not in ("instance", "group"):
            raise ValueError(f"norm must be 'instance' or 'group', got {self.norm!r}")
        for name in ("in_channels", "n_classes", "base_channels", "levels", "groups"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
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
        c_in = p.in_channels
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2 ** (self.params.levels - 1)
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(f"input spatial shape {tuple(x.shape[2:])} must be divisible by {factor}")
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def build_unet3d(params: dict) -> UNet3D:
    """Build the network from a manifest's ``architecture_params`` dictionary."""
    return UNet3D(UNet3DParams.from_dict(params))
