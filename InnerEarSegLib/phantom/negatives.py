"""Inputs that hold no segmentable inner ear, for testing and measuring refusals.

* :func:`mr_like` -- a T1-weighted look-alike of a CT (same anatomy, MR contrast, background near 0
  with noise dipping slightly below it).
* :func:`chest_like` -- a chest CT: body, lungs, vertebrae with a fluid-filled spinal canal, ribs,
  sternum, heart and aorta; dense bone and enclosed fluid, but no labyrinth.
* :func:`crop_mm` -- a crop of any image by an LPS box (e.g. a head CT without its ears).
* :func:`reslice_mm` -- the same volume re-acquired with thick contiguous slices.

Deterministic for a given seed. Arrays are ``(z, y, x)``; points LPS mm.
"""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def mr_like(ct: sitk.Image, seed: int = 0) -> sitk.Image:
    """`ct`'s anatomy with T1-weighted contrast: air and bone dark, fluid grey, fat and soft tissue bright."""
    hu = sitk.GetArrayFromImage(ct).astype(np.float32)
    t1 = np.interp(hu, [-1024, -500, -100, 0, 40, 400, 1500, 3000], [0, 5, 1100, 300, 700, 150, 40, 30])
    noise = np.random.default_rng(seed).normal(0.0, 12.0, hu.shape)
    out = sitk.GetImageFromArray((t1 + noise).astype(np.float32))
    out.CopyInformation(ct)
    return out


def chest_like(seed: int = 0, *, size_xyz=(256, 256, 80), spacing_mm=(0.7, 0.7, 1.0)) -> sitk.Image:
    """An axial chest CT (HU, int16, identity direction) with bone and fluid but no inner ear."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = size_xyz
    sx, sy, sz = spacing_mm
    z, y, x = np.meshgrid((np.arange(nz) - nz / 2) * sz, (np.arange(ny) - ny / 2) * sy, (np.arange(nx) - nx / 2) * sx,
                          indexing="ij")
    hu = np.full(x.shape, -1000.0, np.float32)
    body = (x / 160.0) ** 2 + (y / 105.0) ** 2 <= 1.0
    hu[body] = -90.0  # subcutaneous fat
    hu[(x / 150.0) ** 2 + (y / 95.0) ** 2 <= 1.0] = 40.0  # muscle
    for side in (-1, 1):
        lung = ((x - side * 65.0) / 52.0) ** 2 + ((y + 5.0) / 70.0) ** 2 <= 1.0
        hu[lung] = -850.0
    hu[((x + 10.0) / 40.0) ** 2 + ((y + 20.0) / 35.0) ** 2 <= 1.0] = 45.0  # heart
    hu[((x - 15.0) ** 2 + (y - 35.0) ** 2) <= 12.0**2] = 50.0  # descending aorta
    # vertebral body and arch (cortical shell, marrow) around a spinal canal of CSF
    body_v = (x / 22.0) ** 2 + ((y - 60.0) / 17.0) ** 2 <= 1.0
    hu[body_v] = 1300.0
    hu[(x / 19.0) ** 2 + ((y - 60.0) / 14.0) ** 2 <= 1.0] = 250.0
    arch = (x**2 + (y - 88.0) ** 2 <= 16.0**2) & ~body_v
    hu[arch] = 1200.0
    hu[x**2 + (y - 88.0) ** 2 <= 8.0**2] = 10.0  # spinal canal
    # ribs: dense rings at a few heights, sternum in front
    for z0 in rng.uniform(-35, 35, 5):
        ring = np.abs(np.sqrt((x / 148.0) ** 2 + (y / 93.0) ** 2) - 0.93) < 0.035
        hu[ring & (np.abs(z - z0) < 4.0) & (y > -60.0)] = 1100.0
    hu[(np.abs(x) < 14.0) & (np.abs(y + 92.0) < 5.0)] = 900.0
    hu += rng.normal(0.0, 15.0, hu.shape).astype(np.float32)
    image = sitk.GetImageFromArray(np.clip(hu, -1024, 3071).astype(np.int16))
    image.SetSpacing(spacing_mm)
    image.SetOrigin((-nx / 2 * sx, -ny / 2 * sy, -nz / 2 * sz))
    return image


def crop_mm(image: sitk.Image, low_lps_mm, high_lps_mm) -> sitk.Image:
    """The part of `image` inside the LPS box ``[low, high]`` (mm), clipped to the image."""
    a = np.asarray(image.TransformPhysicalPointToIndex([float(v) for v in low_lps_mm]))
    b = np.asarray(image.TransformPhysicalPointToIndex([float(v) for v in high_lps_mm]))
    lo = np.maximum(np.minimum(a, b), 0)
    hi = np.minimum(np.maximum(a, b), np.asarray(image.GetSize()) - 1)
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])


def reslice_mm(ct: sitk.Image, thickness_mm: float) -> sitk.Image:
    """`ct` re-acquired with contiguous slices of `thickness_mm` along its third axis (Gaussian slice
    profile of that FWHM, combined with the native one)."""
    native = ct.GetSpacing()[2]
    if thickness_mm <= native:
        return ct
    sigma_mm = float(np.sqrt(thickness_mm**2 - native**2) / 2.3548)
    blurred = sitk.RecursiveGaussian(sitk.Cast(ct, sitk.sitkFloat32), sigma_mm, direction=2)
    size = list(ct.GetSize())
    size[2] = int(np.floor((size[2] - 1) * native / thickness_mm)) + 1
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetOrigin(ct.GetOrigin())
    reference.SetDirection(ct.GetDirection())
    reference.SetSpacing((ct.GetSpacing()[0], ct.GetSpacing()[1], thickness_mm))
    return sitk.Resample(blurred, reference, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkFloat32)


__all__ = ["mr_like", "chest_like", "crop_mm", "reslice_mm"]
