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
    """Accumulate views one at a time; :meth:`result` gives fused probabilities ``(C, ...)``.

    Parameters
    ----------
    weight, bias : torch.Tensor or None
        Fusion layer ``W (V, C)`` and ``b (C,)``; ``None`` for sum fusion.
    n_views : int
        Number of views expected.
    """

    def __init__(self, *, n_views: int, weight: torch.Tensor | None = None,
                 bias: torch.Tensor | None = None) -> None:
        if (weight is None) != (bias is None):
            raise ValueError("give both fusion weight and bias, or neither (sum fusion)")
        if weight is not None and weight.shape[0] != n_views:
            raise ValueError(f"fusion weight has {weight.shape[0]} views, expected n_views={n_views}")
        self.n_views = n_views
        self.weight, self.bias = weight, bias
        self._acc: torch.Tensor | None = None
        self._added: set[int] = set()

    def add(self, view_index: int, probabilities: torch.Tensor) -> None:
        """Add view ``view_index``'s probabilities ``(C, ...)``."""
        if view_index in self._added or not 0 <= view_index < self.n_views:
            raise ValueError(f"view_index {view_index} invalid or already added (n_views={self.n_views})")
        self._added.add(view_index)
        p = probabilities.float()
        if self.weight is not None:
            w = self.weight[view_index].to(p.device).reshape((-1,) + (1,) * (p.ndim - 1))
            p = p * w
        self._acc = p.clone() if self._acc is None else self._acc.add_(p)

    def result(self) -> torch.Tensor:
        """Fused probabilities ``(C, ...)`` (softmax for learned fusion, mean for sum fusion)."""
        if len(self._added) != self.n_views:
            raise ValueError(f"only {len(self._added)} of {self.n_views} views were added")
        if self.weight is None:
            return self._acc / self.n_views
        b = self.bias.to(self._acc.device).reshape((-1,) + (1,) * (self._acc.ndim - 1))
        return torch.softmax(self._acc + b, dim=0)
