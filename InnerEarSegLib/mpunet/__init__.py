"""Run the seed paper's MultiPlanarUNet (Perslev et al. 2019; Lim et al. 2024 weights) in PyTorch.

Modules: :mod:`.unet2d` (the 2-D U-Net), :mod:`.weights_h5` (Keras .h5 reader), :mod:`.fusion`,
:mod:`.views` (view bases), :mod:`.sampling` (multi-planar sampling and back-mapping),
:mod:`.project` (an mpunet project folder), :mod:`.importer` (to our model package),
:mod:`.predictor` (the ``"mpunet"`` BoxPredictor). See ``reference/mpunet.md`` for the format facts.
"""
