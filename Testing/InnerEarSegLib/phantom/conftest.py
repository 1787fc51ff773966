"""Shared phantom samples: generated once per test session (the generator is deterministic)."""
import pytest
import SimpleITK as sitk

from InnerEarSegLib.labels import Side

NORMAL_SEEDS = tuple(range(8))


@pytest.fixture(scope="session")
def normal_roi_samples():
    """(seed, side, ct array, label array, meta) for 8 normal ears, alternating sides."""
    from InnerEarSegLib.phantom import generate_roi

    out = []
    for seed in NORMAL_SEEDS:
        side = Side.LEFT if seed % 2 else Side.RIGHT
        ct, lab, meta = generate_roi(seed, side)
        out.append((seed, side, sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(lab), meta))
    return out


@pytest.fixture(scope="session")
def small_full_case():
    """A reduced-size full two-ear CT (352 x 352 x 96) with its labels and meta."""
    from InnerEarSegLib.phantom import generate

    ct, lab, meta = generate(11, matrix=352, slices=96)
    return ct, lab, meta
