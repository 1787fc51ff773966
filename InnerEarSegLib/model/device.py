"""Choose the torch device once, in one place: the one parser of device names and their resolution.

Device names are ``"auto"`` (CUDA when usable, else the CPU), ``"cpu"``, ``"cuda"`` and ``"cuda:N"``.
:func:`parse_device` checks the spelling without torch (the CLI, the options object and the Slicer
module use it); :func:`resolve_device` turns a name into the ``torch.device`` of this machine.
"""
from __future__ import annotations

import contextlib
import logging
import re

from ..errors import InnerEarSegError

log = logging.getLogger(__name__)
#: The names offered in menus; ``cuda:N`` (a CUDA device by index) is accepted everywhere too.
DEVICE_CHOICES = ("auto", "cpu", "cuda")
_CUDA_INDEX = re.compile(r"cuda:(\d+)")


class DeviceError(InnerEarSegError, ValueError):
    """The requested device is not a device name, or does not exist on this machine."""


def parse_device(device) -> str:
    """Check and normalise a device name: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises
    ------
    DeviceError : naming what was received and what is accepted.

    Examples
    --------
    >>> parse_device(" CUDA:1 ")
    'cuda:1'
    """
    name = str(device).strip().lower() if isinstance(device, str) or hasattr(device, "type") else None
    if name in DEVICE_CHOICES or (name is not None and _CUDA_INDEX.fullmatch(name)):
        return name
    raise DeviceError(f"device must be one of {', '.join(DEVICE_CHOICES)} or cuda:N (N = 0, 1, ...), got {device!r}")


def resolve_device(device="auto"):
    """Turn a device name (see :func:`parse_device`) or a ``torch.device`` into a :class:`torch.device`.

    ``"auto"`` picks the first CUDA device when one is usable, else the CPU.

    Raises
    ------
    DeviceError
        If CUDA is requested but not available, the index does not exist, or the name is not a device.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    name = parse_device(device)
    if name == "auto":
        chosen = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        log.debug("device auto -> %s", chosen)
        return chosen
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} was requested but CUDA is not available here (torch "
                          f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use --device cpu "
                          "or --device auto, or install a CUDA build of PyTorch")
    dev = torch.device(name)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                          "device(s)")
    return dev


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Set torch's intra-op threads to `n` inside the block (unchanged for None)."""
    if not n:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
