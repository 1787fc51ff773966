"""Choose the torch device once, in one place."""
from __future__ import annotations

import logging

import torch

from ..errors import InnerEarSegError

log = logging.getLogger(__name__)
DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceError(InnerEarSegError, ValueError):
    """The requested device does not exist on this machine."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a :class:`torch.device`.

    ``"auto"`` picks the first CUDA device when one is usable, else the CPU.

    Raises
    ------
    DeviceError
        If CUDA is requested but not available, or the name is not a device.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise DeviceError(f"device must be one of {DEVICE_CHOICES} or 'cuda:N', got {device!r}")
    if name == "auto":
        chosen = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        log.debug("device auto -> %s", chosen)
        return chosen
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} was requested but CUDA is not available here (torch "
                              f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use --device cpu "
                              "or --device auto, or install a CUDA build of PyTorch")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                              "device(s)")
        return dev
    raise DeviceError(f"device must be one of {DEVICE_CHOICES} or 'cuda:N', got {device!r}")
