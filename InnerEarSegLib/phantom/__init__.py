"""Synthetic temporal-bone CT phantom with labelled inner ears (issue 2).

``generate_roi(seed, side, ...)`` renders one ear's model box for training on the fly;
``generate(seed, ...)`` renders a full two-ear head CT with labels and a JSON-able sidecar.
See docs/phantom.md.
"""
from __future__ import annotations

from .generate import generate, generate_roi  # the functions shadow the submodule name on purpose
from .pathology import PATHOLOGIES
from .physics import PROTOCOLS

__all__ = ["generate", "generate_roi", "PATHOLOGIES", "PROTOCOLS"]
