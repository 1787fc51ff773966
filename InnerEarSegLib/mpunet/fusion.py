"""Fusing the per-view class probabilities of the MultiPlanarUNet into one prediction.

mpunet's learned fusion layer computes, per voxel, ``softmax_c(sum_v W[v, c] * P_v[c] + b[c])``;
``--sum_fusion`` sums the views instead. Both are linear in the views before the softmax, so the
predictor accumulates one view at a time (:class:`FusionAccumulator`) and never holds all views.
"""
from __future__ import annotations

import torch


def fuse_views(per_view: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Learned fusion of ``per_view (N, V, C)`` probabilities (mpunet's layout) into ``(N, C)``.

    Examples
    --------
    >>> p = torch.full((1, 2, 2), 0.5)
    >>> fuse_views(p, torch.ones(2, 2), torch.zeros(2))
    tensor([[0.5000, 0.5000]])
    """
    if per_view.ndim != 3 or tuple(weight.shape) != tuple(per_view.shape[1:]):
        raise ValueError(f"per_view must be (N, V, C) with weight (V, C); got {tuple(per_view.shape)} "
                         f"and {tuple(weight.shape)}")
    return torch.softmax((per_view * weight).sum(dim=1) + bias.reshape(1, -1), dim=1)


def sum_fuse_views(per_view: torch.Tensor) -> torch.Tensor:
    """Sum fusion of ``(N, V, C)`` probabilities, divided by V so it stays a probability (same argmax)."""
    return per_view.mean(dim=1)


class FusionAccumulator:
    """Accumulate views one at a time into a ``(C, N)`` buffer; :meth:`result` gives fused probabilities.

    Parameters
    ----------
    n_views : int
        Number of views.
    shape : tuple
        ``(C, N)`` of the fused result (N target points).
    weight, bias : torch.Tensor or None
        Fusion layer ``W (V, C)`` and ``b (C,)``; ``None`` for sum fusion.
    device : torch.device or str
        Where the buffer lives.

    Examples
    --------
    >>> acc = FusionAccumulator(n_views=2, shape=(2, 1))
    >>> acc.add(0, torch.tensor([[1.0], [0.0]])); acc.add(1, torch.tensor([[0.0], [1.0]]))
    >>> acc.result().flatten().tolist()
    [0.5, 0.5]
    """

    def __init__(self, *, n_views: int, shape: tuple, weight: torch.Tensor | None = None,
                 bias: torch.Tensor | None = None, device="cpu") -> None:
        if (weight is None) != (bias is None):
            raise ValueError("give both fusion weight and bias, or neither (sum fusion)")
        if weight is not None and tuple(weight.shape) != (n_views, shape[0]):
            raise ValueError(f"fusion weight has shape {tuple(weight.shape)}, expected ({n_views}, {shape[0]})")
        self.n_views = n_views
        self.weight = None if weight is None else weight.float().to(device)
        self.bias = None if bias is None else bias.float().to(device).reshape(-1, 1)
        self._acc = torch.zeros(shape, dtype=torch.float32, device=device)

    def add(self, view_index: int, probabilities: torch.Tensor, *, at: slice = slice(None)) -> None:
        """Add view ``view_index``'s probabilities ``(C, n)`` for the target points ``at``."""
        if not 0 <= view_index < self.n_views:
            raise ValueError(f"view_index must be in [0, {self.n_views}), got {view_index}")
        p = probabilities.float().to(self._acc.device)
        if self.weight is not None:
            p = p * self.weight[view_index].reshape(-1, 1)
        self._acc[:, at] += p

    def result(self) -> torch.Tensor:
        """Fused probabilities ``(C, N)``: softmax for learned fusion, the mean for sum fusion."""
        if self.weight is None:
            return self._acc / self.n_views
        return torch.softmax(self._acc + self.bias, dim=0)
