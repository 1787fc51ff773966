"""Fixtures of the batch tests: a tiny seeded model package and a few small phantom CTs (one broken)."""
from __future__ import annotations

from pathlib import Path

import pytest
import SimpleITK as sitk


@pytest.fixture(scope="session")
def small_phantoms() -> dict[str, tuple[sitk.Image, sitk.Image]]:
    """case id -> (CT, true two-ear labels) of two small phantoms."""
    from InnerEarSegLib.phantom.generate import generate

    return {f"case{seed}": generate(seed, matrix=320, slices=72)[:2] for seed in (21, 22)}


@pytest.fixture(scope="session")
def small_cts(small_phantoms) -> dict[str, sitk.Image]:
    return {name: ct for name, (ct, _) in small_phantoms.items()}


@pytest.fixture()
def study_inputs(tmp_path, small_cts) -> Path:
    """A folder with two phantom CTs, their label maps (which a scan must pass over) and one broken file."""
    folder = tmp_path / "cts"
    folder.mkdir()
    for name, ct in small_cts.items():
        sitk.WriteImage(ct, str(folder / f"{name}_ct.nrrd"))
        sitk.WriteImage(sitk.Image(8, 8, 8, sitk.sitkUInt8), str(folder / f"{name}_labels.nii.gz"))
    (folder / "broken_ct.nii.gz").write_bytes(b"not an image")
    return folder
