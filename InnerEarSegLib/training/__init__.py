"""Training of the bundled U-Net, one module per job.

- :mod:`.config` -- :class:`TrainConfig`, the seed ranges, the class names;
- :mod:`.sources` -- samples: phantom ear boxes drawn from a seed, a user's labelled CTs;
- :mod:`.pool` -- the in-memory sample pool and its background generators;
- :mod:`.augment` -- crops and intensity jitter of each iteration's batch;
- :mod:`.loss` -- cross-entropy + soft Dice, the head-bias start;
- :mod:`.validation` -- Dice per structure on whole boxes;
- :mod:`.state`, :mod:`.checkpoint` -- the run's typed state, the manifest and provisional saves;
- :mod:`.loop` -- :func:`train`.

``innerear-seg train`` (:mod:`InnerEarSegLib.cli.train`) is the command line.
"""
from .config import CLASS_NAMES, TRAIN_SEED_START, VALIDATION_SEED_START, VALIDATION_SEED_STOP, TrainConfig
from .loop import TrainResult, learning_rate_at, train
from .sources import LabelledEar, PhantomSource, SampleSource, find_labelled_cases, labelled_ears

__all__ = ["CLASS_NAMES", "TRAIN_SEED_START", "VALIDATION_SEED_START", "VALIDATION_SEED_STOP", "LabelledEar",
           "PhantomSource", "SampleSource", "TrainConfig", "TrainResult", "find_labelled_cases", "labelled_ears",
           "learning_rate_at", "train"]
