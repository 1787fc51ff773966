"""What a training run is: :class:`TrainConfig` (every option, checked) and the seed ranges it draws from.

Seeds are split so that evaluation never sees a training phantom: evaluation 0-89999, validation
90000-90099, training >= 100000 (each run seed its own block of ten million).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..box import BoxSpec
from ..labels import BACKGROUND_CLASS, CANALS, STRUCTURES
from ..model.device import parse_device
from ..model.unet3d import UNet3DParams

TRAIN_SEED_START = 100_000
VALIDATION_SEED_START = 90_000
VALIDATION_SEED_STOP = 90_100
#: Model classes in output-channel order: background, then the structures in catalogue order.
CLASS_NAMES = (BACKGROUND_CLASS,) + tuple(s.key for s in STRUCTURES)


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`~InnerEarSegLib.training.train` (sizes in voxels of the box grid, times in minutes).

    ``validation_cases``: a folder of the user's own labelled CTs (``<case>_ct.*`` + ``<case>_labels.*``,
    two-ear labels) to choose the best network on, instead of the phantom validation seeds.
    The data options (``calibrated_fraction``, ``randomised_fraction``, ``centre_offset_mm``) default to
    the recipe of model 2.1.0; ``0, 0, None`` reproduces the data model 2.0.0 was trained on.
    """

    minutes: float = 60.0
    seed: int = 0
    base_channels: int = 6
    levels: int = 4
    norm: str = "instance"
    coordinates: bool = True
    canal_weight: float = 3.0
    batch_size: int = 1
    crop_vox: int = 96
    learning_rate: float = 2e-3
    foreground_crops: float = 0.5
    warmup_iterations: int = 50
    n_validation: int = 12
    validate_every_minutes: float = 5.0
    pool_size: int = 128
    pool_fill_minutes: float = 1.0
    pool_workers: int = 1
    worker_duty: float = 0.25
    pool_refresh: bool = True
    cbct_fraction: float = 0.35
    pathology_rate: float = 0.25
    calibrated_fraction: float = 0.8
    randomised_fraction: float = 0.6
    centre_offset_mm: float | None = 5.0
    device: str = "auto"
    validation_cases: str | None = None
    max_iterations: int | None = None
    threads: int = 2
    box_size_vox: int = 96
    spacing_mm: float = 0.3
    name: str = "innerear_unet3d_v1"
    version: str = "1.0.0"

    def __post_init__(self) -> None:
        if not self.minutes > 0:
            raise ValueError(f"minutes must be > 0, got {self.minutes!r}")
        factor = 2 ** (self.levels - 1)
        if self.crop_vox % factor or self.box_size_vox % factor or self.crop_vox > self.box_size_vox:
            raise ValueError(f"crop_vox ({self.crop_vox}) and box_size_vox ({self.box_size_vox}) must be divisible "
                             f"by {factor} (2**(levels-1)) and crop_vox <= box_size_vox")
        if not 1 <= self.n_validation <= VALIDATION_SEED_STOP - VALIDATION_SEED_START:
            raise ValueError(f"n_validation must be in 1..100, got {self.n_validation}")
        if not 0.0 < self.worker_duty <= 1.0:
            raise ValueError(f"worker_duty must be in (0, 1], got {self.worker_duty!r}")
        if not self.canal_weight > 0:
            raise ValueError(f"canal_weight must be > 0, got {self.canal_weight!r}")
        if self.warmup_iterations < 0:
            raise ValueError(f"warmup_iterations must be >= 0, got {self.warmup_iterations!r}")
        if not 0.0 <= self.foreground_crops <= 1.0:
            raise ValueError(f"foreground_crops must be in [0, 1], got {self.foreground_crops!r}")
        for name in ("calibrated_fraction", "randomised_fraction", "cbct_fraction", "pathology_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.centre_offset_mm is not None and not 0.0 <= self.centre_offset_mm <= 8.0:
            raise ValueError(f"centre_offset_mm must be in [0, 8] mm (the labyrinth must stay in the box), "
                             f"got {self.centre_offset_mm!r}")
        parse_device(self.device)
        if self.pool_size < self.batch_size:
            raise ValueError(f"pool_size ({self.pool_size}) must be >= batch_size ({self.batch_size})")

    @property
    def spec(self) -> BoxSpec:
        return BoxSpec(size_vox=self.box_size_vox, spacing_mm=self.spacing_mm)

    @property
    def params(self) -> UNet3DParams:
        """The network this configuration trains."""
        return UNet3DParams(n_classes=len(CLASS_NAMES), base_channels=self.base_channels, levels=self.levels,
                            norm=self.norm, coord_box_vox=self.box_size_vox if self.coordinates else 0)

    @property
    def class_weights(self) -> tuple[float, ...]:
        """Cross-entropy weight per class: 1 for background, cochlea and vestibule, `canal_weight` for the canals."""
        canals = {s.key for s in CANALS}
        return tuple(self.canal_weight if name in canals else 1.0 for name in CLASS_NAMES)

    @property
    def validation_seeds(self) -> list[int]:
        return list(range(VALIDATION_SEED_START, VALIDATION_SEED_START + self.n_validation))

    def training_seed(self, k: int) -> int:
        """The k-th training phantom seed of this run (disjoint from validation and evaluation)."""
        return TRAIN_SEED_START + self.seed * 10_000_000 + k
