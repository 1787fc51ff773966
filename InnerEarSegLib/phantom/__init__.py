"""Synthetic temporal-bone CT phantom with labelled inner ears (issue 2).

``generate_roi(seed, side, ...)`` renders one ear's model box for training on the fly;
``generate(seed, ...)`` renders a full two-ear head CT with labels and a JSON-able sidecar.
"""
from __future__ import annotations

__all__ = ["generate", "generate_roi", "PATHOLOGIES", "PROTOCOLS"]


def __getattr__(name: str):
    if name in ("generate", "generate_roi"):
        from . import generate as _g

        return getattr(_g, name)
    if name == "PATHOLOGIES":
        from .pathology import PATHOLOGIES

        return PATHOLOGIES
    if name == "PROTOCOLS":
        from .physics import PROTOCOLS

        return PROTOCOLS
    raise AttributeError(name)
