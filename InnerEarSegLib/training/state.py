"""The state of a run in progress: iterations, the best weights so far, one record per validation."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class EpochRecord:
    """One validation during training (an "epoch" is the stretch of iterations between two validations)."""

    epoch: int
    iteration: int
    elapsed_s: float
    train_loss: float | None
    val_mean_dice: float
    val_dice: dict[str, float]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class TrainingState:
    """Where a run is: iteration count, the best network by mean validation Dice (on the CPU), the epoch log."""

    best_weights: dict[str, torch.Tensor]
    device: str = "cpu"
    iteration: int = 0
    best_mean_dice: float = -1.0
    best_iteration: int = 0
    epochs: list[EpochRecord] = field(default_factory=list)

    def epoch_log(self) -> list[dict]:
        """The epochs as the manifest stores them."""
        return [e.to_dict() for e in self.epochs]
