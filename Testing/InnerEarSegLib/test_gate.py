"""The input gate: what is refused before any long work, with what message, and what passes."""
from __future__ import annotations

import pytest
import SimpleITK as sitk

from InnerEarSegLib.errors import InputError
from InnerEarSegLib.gate import MAX_SPACING_MM, check_modality, check_resolution
from InnerEarSegLib.imageio import validate_ct
from InnerEarSegLib.labels import Side
from InnerEarSegLib.phantom.generate import generate, generate_roi
from InnerEarSegLib.phantom.negatives import chest_like, mr_like


@pytest.fixture(scope="module")
def head():
    return generate(21, protocol="mdct", matrix=256, slices=64)[0]


@pytest.mark.parametrize("protocol, fov", [("mdct", "both"), ("cbct", "both"), ("cbct", "left")])
def test_phantom_ct_of_every_protocol_passes_the_modality_check(protocol, fov):
    ct, _, _ = generate(22, protocol=protocol, fov=fov, matrix=256, slices=64)
    profile = check_modality(ct)
    assert profile.is_ct and profile.air_share > 0 and profile.bone_share > 0


def test_an_ear_box_with_no_outside_air_still_counts_as_ct():
    ct, _, _ = generate_roi(23, Side.LEFT, protocol="cbct")
    assert check_modality(ct).is_ct


def test_an_mr_volume_with_small_negative_values_is_refused_as_not_ct(head):
    mr = mr_like(head)
    assert sitk.GetArrayViewFromImage(mr).min() < 0  # the case the old min/max rule let through
    with pytest.raises(InputError, match=r"no air \(below -400 HU\).*MR image"):
        validate_ct(mr)


def test_raw_stored_values_are_refused_with_the_rescale_remedy(head):
    raw = sitk.Cast(head, sitk.sitkInt32) + 1024
    with pytest.raises(InputError, match="subtract 1024"):
        validate_ct(raw)


@pytest.mark.parametrize("spacing_mm", [(0.45, 0.45, 5.0), (0.45, 0.45, 3.0), (0.45, 0.45, 1.5), (1.5, 1.5, 0.6)])
def test_a_scan_coarser_than_the_policy_is_refused_with_what_to_do(spacing_mm):
    image = sitk.Image([32, 32, 32], sitk.sitkInt16)
    image.SetSpacing(spacing_mm)
    with pytest.raises(InputError, match=r"too coarse for the inner ear.*Reconstruct the raw data at thin slices"
                                         r".*--allow-thick-slices"):
        check_resolution(image)


def test_the_override_lets_a_thick_scan_through_and_marks_it_low_resolution():
    image = sitk.Image([32, 32, 32], sitk.sitkInt16)
    image.SetSpacing((0.45, 0.45, 5.0))
    resolution = check_resolution(image, allow_low_resolution=True)
    assert resolution.low_resolution and resolution.coarsest_mm == 5.0


def test_the_stated_limit_is_the_one_applied():
    image = sitk.Image([32, 32, 32], sitk.sitkInt16)
    image.SetSpacing((0.4, 0.4, MAX_SPACING_MM))
    assert not check_resolution(image).low_resolution
    image.SetSpacing((0.4, 0.4, MAX_SPACING_MM + 0.05))
    with pytest.raises(InputError):
        check_resolution(image)


def test_a_chest_ct_passes_the_gate_as_ct_but_no_ear_is_found_in_it():
    from InnerEarSegLib.errors import NoEarFound
    from InnerEarSegLib.locate import locate_ears

    chest = chest_like(3)
    validate_ct(chest)
    with pytest.raises(NoEarFound, match="no inner ear found.*--roi-center"):
        locate_ears(chest)
