"""PyTorch port of the MultiPlanarUNet 2-D U-Net (``mpunet.models.UNet``, mpunet 0.2.12).

The layer names are the Keras names so weights map one to one:

- encoder level ``i``: ``encoder_Li_conv1``, ``encoder_Li_conv2`` (3x3 + ReLU), ``encoder_Li_BN``
  (its output is the skip tensor), 2x2 max-pool;
- bottom: ``bottom_conv1``, ``bottom_conv2``, ``bottom_BN``;
- decoder level ``i`` (0 = deepest): nearest upsampling x2, ``upsample_Li_conv1`` (**2x2** + ReLU),
  ``upsample_Li_BN1``, concatenation ``[skip, upsampled]``, ``upsample_Li_conv2``, ``upsample_Li_conv3``
  (3x3 + ReLU), ``upsample_Li_BN2``;
- output: ``conv2d`` (1x1 with bias) then softmax over classes.

TensorFlow ``'same'`` padding is reproduced exactly (for the even 2x2 kernel TF pads 0 before and
1 after), and BatchNorm uses the Keras epsilon 1e-3 with the moving statistics (inference only).
Tensors are ``(N, C, H, W)`` with H along the view's u axis and W along v.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

#: Keras BatchNormalization default epsilon.
KERAS_BN_EPSILON = 1e-3


@dataclass(frozen=True)
class LayerSpec:
    """One weighted Keras layer of the U-Net, in network order.

    ``kind`` is ``"conv"`` (params kernel, bias) or ``"bn"`` (gamma, beta, moving_mean,
    moving_variance); ``kernel_size`` is 0 for BN; channel counts are Keras' (in, out).
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel_size: int = 0


def unet_layer_specs(*, n_classes: int, n_channels: int = 1, depth: int = 4,
                     complexity_factor: float = 1.0, kernel_size: int = 3) -> list[LayerSpec]:
    """The weighted layers of ``mpunet.models.UNet`` in the order Keras creates them.

    Filter counts follow mpunet: ``int(64 * 2**i * sqrt(complexity_factor))`` at encoder level
    ``i``, the bottom at level ``depth``, and the decoder halving the (float) count again.

    Examples
    --------
    >>> [s.out_channels for s in unet_layer_specs(n_classes=2, complexity_factor=2)][:2]
    [90, 90]
    """
    _check_positive_int("n_classes", n_classes)
    _check_positive_int("n_channels", n_channels)
    _check_positive_int("depth", depth)
    if not (isinstance(complexity_factor, (int, float)) and complexity_factor > 0):
        raise ValueError(f"complexity_factor must be a positive number, got {complexity_factor!r}")
    cf = math.sqrt(complexity_factor)
    k = kernel_size
    specs: list[LayerSpec] = []
    filters: float = 64
    in_ch = n_channels
    skip_channels = []
    for i in range(depth):
        out = int(filters * cf)
        specs += [LayerSpec(f"encoder_L{i}_conv1", "conv", in_ch, out, k),
                  LayerSpec(f"encoder_L{i}_conv2", "conv", out, out, k),
                  LayerSpec(f"encoder_L{i}_BN", "bn", out, out)]
        skip_channels.append(out)
        in_ch = out
        filters *= 2
    out = int(filters * cf)
    specs += [LayerSpec("bottom_conv1", "conv", in_ch, out, k),
              LayerSpec("bottom_conv2", "conv", out, out, k),
              LayerSpec("bottom_BN", "bn", out, out)]
    in_ch = out
    for i in range(depth):
        filters /= 2
        out = int(filters * cf)
        skip = skip_channels[depth - 1 - i]
        specs += [LayerSpec(f"upsample_L{i}_conv1", "conv", in_ch, out, 2),
                  LayerSpec(f"upsample_L{i}_BN1", "bn", out, out),
                  LayerSpec(f"upsample_L{i}_conv2", "conv", skip + out, out, k),
                  LayerSpec(f"upsample_L{i}_conv3", "conv", out, out, k),
                  LayerSpec(f"upsample_L{i}_BN2", "bn", out, out)]
        in_ch = out
    specs.append(LayerSpec("conv2d", "conv", in_ch, n_classes, 1))
    return specs


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _same_pad(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """TensorFlow 'same' padding for stride 1: total k-1, the extra pixel after (bottom/right)."""
    total = kernel_size - 1
    before, after = total // 2, total - total // 2
    if total == 0:
        return x
    return F.pad(x, (before, after, before, after))


class MPUNet2D(nn.Module):
    """The MultiPlanarUNet 2-D U-Net for any depth, complexity factor and class count.

    Parameters
    ----------
    n_classes : int
        Output classes (softmax over them).
    n_channels : int
        Input channels (1 for CT).
    depth : int
        Number of 2x2 max-pools; the input side must be divisible by ``2**depth``.
    complexity_factor : float
        Filters are scaled by ``sqrt(complexity_factor)`` (2 in the paper's project: 62 M parameters).

    Notes
    -----
    Modules are kept in ``self.layers`` keyed by their Keras names, so ``state_dict`` keys are
    ``layers.<keras name>.weight`` etc.

    Examples
    --------
    >>> net = MPUNet2D(n_classes=2, complexity_factor=0.01).eval()
    >>> net(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 2, 32, 32])
    """

    def __init__(self, *, n_classes: int, n_channels: int = 1, depth: int = 4,
                 complexity_factor: float = 1.0) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.n_channels = n_channels
        self.depth = depth
        self.complexity_factor = complexity_factor
        self.specs = unet_layer_specs(n_classes=n_classes, n_channels=n_channels, depth=depth,
                                      complexity_factor=complexity_factor)
        layers = {}
        for s in self.specs:
            if s.kind == "conv":
                layers[s.name] = nn.Conv2d(s.in_channels, s.out_channels, s.kernel_size, bias=True)
            else:
                layers[s.name] = nn.BatchNorm2d(s.out_channels, eps=KERAS_BN_EPSILON)
        self.layers = nn.ModuleDict(layers)

    def _conv(self, name: str, x: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
        conv = self.layers[name]
        x = conv(_same_pad(x, conv.kernel_size[0]))
        return F.relu(x) if relu else x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-softmax output ``(N, n_classes, H, W)`` for an input ``(N, n_channels, H, W)``."""
        if x.ndim != 4 or x.shape[1] != self.n_channels:
            raise ValueError(f"input must be (N, {self.n_channels}, H, W), got {tuple(x.shape)}")
        factor = 2 ** self.depth
        if x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"input height and width must be divisible by 2**depth = {factor} "
                             f"(mpunet's sample dim), got {tuple(x.shape[2:])}")
        skips = []
        for i in range(self.depth):
            x = self._conv(f"encoder_L{i}_conv1", x)
            x = self._conv(f"encoder_L{i}_conv2", x)
            x = self.layers[f"encoder_L{i}_BN"](x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self._conv("bottom_conv1", x)
        x = self._conv("bottom_conv2", x)
        x = self.layers["bottom_BN"](x)
        for i in range(self.depth):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self._conv(f"upsample_L{i}_conv1", x)
            x = self.layers[f"upsample_L{i}_BN1"](x)
            x = torch.cat([skips[self.depth - 1 - i], x], dim=1)
            x = self._conv(f"upsample_L{i}_conv2", x)
            x = self._conv(f"upsample_L{i}_conv3", x)
            x = self.layers[f"upsample_L{i}_BN2"](x)
        return self._conv("conv2d", x, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``(N, n_classes, H, W)``."""
        return torch.softmax(self.logits(x), dim=1)


def count_parameters(net: nn.Module) -> int:
    """Trainable parameters plus BN moving statistics, as Keras' ``count_params`` reports them."""
    return sum(p.numel() for p in net.parameters()) + sum(
        b.numel() for n, b in net.named_buffers() if n.endswith(("running_mean", "running_var")))


def load_state(net: MPUNet2D, state: dict) -> MPUNet2D:
    """Load a state dict (arrays or tensors) into ``net``; every parameter and BN statistic must be given.

    Raises
    ------
    ValueError
        Naming the missing or unexpected keys.
    """
    own = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    missing, extra = sorted(own - set(state)), sorted(set(state) - own)
    if missing or extra:
        raise ValueError(f"U-Net state mismatch: missing {missing[:5]}, unexpected {extra[:5]}")
    tensors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in state.items()}
    net.load_state_dict(tensors, strict=False)
    return net
