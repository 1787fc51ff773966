"""InnerEarSegLib: pure-Python segmentation of the inner ear in temporal-bone CT.

Never imports slicer or Qt. The main entry point is :func:`InnerEarSegLib.segment`.
"""
from __future__ import annotations

__all__ = ["segment", "Segmenter"]


def __getattr__(name: str):
    # Lazy so that `import InnerEarSegLib` stays light (no torch/vtk at import).
    if name == "segment":
        from .pipeline import segment

        return segment
    if name == "Segmenter":
        from .segmenter import Segmenter

        return Segmenter
    raise AttributeError(name)
