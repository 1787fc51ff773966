"""The input gate: is this image a CT, fine enough to show an inner ear? Decided before any long work.

Two questions, each answered from the image itself with a measured rule:

* **Resolution.** The semicircular canals' lumens are 0.8-1 mm wide, so a scan whose voxels are
  coarser than :data:`MAX_SPACING_MM` along any axis cannot show them. The limit comes from
  ``benchmarks/dice_vs_slice_thickness.py`` (normal MDCT phantoms re-acquired at 0.5-5 mm slices, the
  bundled model): the lateral canal's median Dice falls from 0.92 at 0.5 mm to 0.73 at 1.25 mm and
  below 0.6 beyond 1.5 mm (docs/inputs-and-locator.md has the table). Coarser scans are refused unless
  the caller allows them explicitly; the result is then marked low resolution.
* **Modality.** A CT in Hounsfield units has air (about -1000 HU; cone-beam CT and partial volume read
  it higher, so below -400 HU counts), water and soft tissue near 0 and bone above several hundred HU. :func:`intensity_profile` measures those three populations (outside
  the field of view, values <= -1500 HU, are left out); an image without all three is refused. An MR
  volume has no air at -1000 (its background is near 0), a normalised volume no bone, raw stored
  values no negative numbers; each gets its own message.

Points are LPS mm; arrays ``(z, y, x)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .errors import InputError

#: Largest voxel spacing (mm, any axis) at which the inner ear is segmented without an explicit override.
MAX_SPACING_MM = 1.25
#: HU ranges of the three populations a CT must hold.
AIR_HU = (-1400.0, -400.0)
SOFT_HU = (-200.0, 250.0)
BONE_HU = 500.0
#: Values at or below this are padding outside the reconstructed field of view, not anatomy.
OUTSIDE_FOV_HU = -1500.0
#: Smallest share of the in-view voxels in each population for the image to count as CT.
MIN_AIR_SHARE = 0.0005
MIN_SOFT_SHARE = 0.02
MIN_BONE_SHARE = 0.0005
#: A non-negative image this bright is raw stored CT values (bone at 1024 + 500 or more), not HU.
RAW_BONE_VALUE = 1500.0


@dataclass(frozen=True)
class IntensityProfile:
    """Shares of the in-view voxels that are air, water/soft tissue and bone (HU ranges above)."""

    air_share: float
    soft_share: float
    bone_share: float
    min_value: float
    max_value: float

    @property
    def is_ct(self) -> bool:
        return (self.air_share >= MIN_AIR_SHARE and self.soft_share >= MIN_SOFT_SHARE
                and self.bone_share >= MIN_BONE_SHARE)


@dataclass(frozen=True)
class Resolution:
    """The scan's voxel spacing and whether it is coarser than the policy allows."""

    spacing_mm: tuple[float, float, float]
    coarsest_mm: float

    @property
    def low_resolution(self) -> bool:
        return self.coarsest_mm > MAX_SPACING_MM + 1e-6


def intensity_profile(image: sitk.Image, max_samples: int = 4_000_000) -> IntensityProfile:
    """Measure the air, soft-tissue and bone populations of `image` (a regular sample of its voxels)."""
    array = sitk.GetArrayViewFromImage(image)
    step = max(1, int(np.ceil((array.size / max_samples) ** (1 / 3))))
    sample = np.asarray(array[::step, ::step, ::step], dtype=np.float32).ravel()
    sample = sample[np.isfinite(sample)]
    in_view = sample[sample > OUTSIDE_FOV_HU]
    n = max(in_view.size, 1)
    return IntensityProfile(
        air_share=float(np.count_nonzero((in_view >= AIR_HU[0]) & (in_view <= AIR_HU[1])) / n),
        soft_share=float(np.count_nonzero((in_view >= SOFT_HU[0]) & (in_view <= SOFT_HU[1])) / n),
        bone_share=float(np.count_nonzero(in_view >= BONE_HU) / n),
        min_value=float(sample.min()) if sample.size else float("nan"),
        max_value=float(sample.max()) if sample.size else float("nan"),
    )


def check_modality(image: sitk.Image) -> IntensityProfile:
    """Refuse an image that is not a CT in HU (MR, normalised, raw stored values); return its profile."""
    profile = intensity_profile(image)
    if profile.is_ct:
        return profile
    found = (f"found: {100 * profile.air_share:.2f} % air (< -400 HU), {100 * profile.soft_share:.1f} % water/soft "
             f"tissue (-200..250 HU), {100 * profile.bone_share:.2f} % bone (> {BONE_HU:.0f} HU); values "
             f"{profile.min_value:.0f} to {profile.max_value:.0f}")
    if profile.min_value >= 0 and profile.max_value >= RAW_BONE_VALUE:
        raise InputError(f"the image does not look like CT in Hounsfield units: it has no negative values, so air is "
                         f"not at -1000 HU ({found}). These look like raw stored values without the rescale "
                         f"intercept: convert to HU (usually subtract 1024, or apply the DICOM RescaleSlope/"
                         f"RescaleIntercept). If it is an MR image: InnerEarSeg segments CT only.")
    if profile.air_share < MIN_AIR_SHARE:
        lacks = "no air (below -400 HU)" + (" and no bone" if profile.bone_share < MIN_BONE_SHARE else "")
        raise InputError(f"the image does not look like CT in Hounsfield units ({found}): {lacks}, while every CT of "
                         f"the head has air (outside air, ear canal, mastoid) and bone. Is it an MR image (its "
                         f"background is near 0) or a normalised volume? InnerEarSeg segments CT only; give the CT "
                         f"in HU. If it is a CT cropped inside the skull, it holds no temporal bone either (the "
                         f"middle ear and mastoid hold air): give the uncropped scan.")
    raise InputError(f"the image does not look like a CT of bone in Hounsfield units ({found}). Give a CT of the "
                     f"temporal bones in HU.")


def check_resolution(image: sitk.Image, *, allow_low_resolution: bool = False) -> Resolution:
    """Refuse a scan coarser than :data:`MAX_SPACING_MM` unless `allow_low_resolution`; return its resolution."""
    spacing = tuple(float(s) for s in image.GetSpacing())
    resolution = Resolution(spacing, max(spacing))
    if resolution.low_resolution and not allow_low_resolution:
        raise InputError(
            f"the scan is too coarse for the inner ear: voxel spacing {' x '.join(f'{s:.2f}' for s in spacing)} mm, "
            f"while the semicircular canals are 0.8-1 mm wide and need at most {MAX_SPACING_MM:g} mm along every "
            f"axis (routine 3-5 mm head CT shows no canal lumen). Reconstruct the raw data at thin slices "
            f"(<= {MAX_SPACING_MM:g} mm, ideally 0.5-0.75 mm, bone kernel) and segment that series. To segment "
            f"this scan anyway, pass --allow-thick-slices (every result is then marked low resolution).")
    return resolution


__all__ = ["MAX_SPACING_MM", "IntensityProfile", "Resolution", "intensity_profile", "check_modality",
           "check_resolution"]
