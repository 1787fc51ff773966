"""Every test starts from the same random state: Python's, NumPy's global and torch's (network init)."""
from __future__ import annotations

import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_every_random_source():
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
