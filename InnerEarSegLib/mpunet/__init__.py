"""Run the seed paper's MultiPlanarUNet (Perslev et al. 2019; Lim et al. 2024 weights) in PyTorch.

Modules: :mod:`.unet2d` (the 2-D U-Net), :mod:`.weights_h5` (Keras .h5 reader), :mod:`.fusion`,
:mod:`.views` (view bases), :mod:`.sampling` (multi-planar sampling and back-mapping),
:mod:`.project` (an mpunet project folder), :mod:`.importer` (to our model package),
:mod:`.predictor` (the ``"mpunet"`` BoxPredictor). See ``reference/mpunet.md`` for the format facts.
"""
from __future__ import annotations


def _build_predictor(loaded, device):
    """Builder for architecture ``"mpunet"`` (imports torch-heavy modules only when called)."""
    from .predictor import build_mpunet_predictor

    return build_mpunet_predictor(loaded, device)


def _register() -> None:
    from ..model.predictor import register_architecture

    register_architecture("mpunet", _build_predictor)


_register()
