"""CT acquisition physics applied to a painted object on its acquisition grid.

Multidetector CT (``mdct``): point-spread-function blur (FWHM 0.4-0.8 mm in plane, the slice
profile along z), correlated Gaussian noise (SD 20-150 HU), a scanner HU offset and gain, metal
streaks around an implant, values clipped to the 12-bit range [-1024, 3071].
Cone-beam CT (``cbct``): isotropic voxels, dense bone compressed to ~1000-1600 HU, cupping (a dark
centre), streaks from dense bone, more noise. See anatomy.md, "Temporal-bone CT".
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .raster import Grid

PROTOCOLS = ("mdct", "cbct")


#: Voxel-size ranges (mm). ROI mode skips the finest grids (they cost time and are averaged away
#: by the 0.3 mm box anyway); the full CT uses the whole published range.
SPACING_RANGES_MM = {
    "full": {"mdct_inplane": (0.2, 0.5), "mdct_slice": (0.3, 1.0), "cbct": (0.2, 0.3)},
    "roi": {"mdct_inplane": (0.25, 0.5), "mdct_slice": (0.4, 1.0), "cbct": (0.27, 0.3)},
}


def draw_physics_params(rng: np.random.Generator, protocol: str, *, mode: str = "full") -> dict:
    """Acquisition parameters of one scan (mm, HU); `mode` is ``full`` or ``roi`` (voxel-size ranges)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    ranges = SPACING_RANGES_MM[mode]
    if protocol == "mdct":
        inplane = float(rng.uniform(*ranges["mdct_inplane"]))
        slice_mm = float(rng.uniform(*ranges["mdct_slice"]))
        p = {
            "spacing_mm": [inplane, inplane, slice_mm],
            "psf_fwhm_mm": float(rng.uniform(0.4, 0.8)),
            "slice_fwhm_mm": float(max(slice_mm * rng.uniform(1.0, 1.4), 0.4)),
            "noise_sd_hu": float(rng.uniform(20, 150)),
            "noise_corr": float(rng.uniform(0.2, 0.6)),
            "hu_offset": float(rng.uniform(-30, 30)),
            "hu_gain": float(rng.uniform(0.96, 1.04)),
        }
    else:
        iso = float(rng.uniform(*ranges["cbct"]))
        p = {
            "spacing_mm": [iso, iso, iso],
            "psf_fwhm_mm": float(rng.uniform(0.4, 0.7)),
            "slice_fwhm_mm": float(rng.uniform(0.4, 0.7)),
            "noise_sd_hu": float(rng.uniform(40, 150)),
            "noise_corr": float(rng.uniform(0.2, 0.6)),
            "hu_offset": float(rng.uniform(-80, 80)),
            "hu_gain": float(rng.uniform(0.9, 1.1)),
            "bone_gain": float(rng.uniform(0.4, 0.65)),
            "cupping_hu": float(rng.uniform(60, 200)),
            "streak_hu": float(rng.uniform(40, 140)),
            "streak_angles_deg": [float(v) for v in rng.uniform(0, 180, int(rng.integers(4, 10)))],
        }
    p["protocol"] = protocol
    p["seed"] = int(rng.integers(0, 2**31 - 1))
    return p


def _inplane_coords(grid: Grid, centre_world_mm) -> tuple[np.ndarray, np.ndarray]:
    """World x, y offsets (mm) of the grid's columns/rows from `centre_world_mm` (axis-aligned grids)."""
    nz, ny, nx = grid.shape_zyx
    x = grid.origin_lps_mm[0] + grid.spacing_mm[0] * np.arange(nx, dtype=np.float32) - centre_world_mm[0]
    y = grid.origin_lps_mm[1] + grid.spacing_mm[1] * np.arange(ny, dtype=np.float32) - centre_world_mm[1]
    return x[None, :].astype(np.float32), y[:, None].astype(np.float32)


def metal_streaks(hu: np.ndarray, grid: Grid, amplitude_hu: float, rng: np.random.Generator) -> None:
    """Bright/dark streaks radiating in each axial slice from the metal it contains (in place)."""
    metal = hu > 3000
    if not metal.any():
        return
    nz = hu.shape[0]
    x, y = _inplane_coords(grid, (0.0, 0.0, 0.0))
    angles = np.radians(rng.uniform(0, 180, 10))
    signs = rng.choice([-1.0, 1.0], size=10) * rng.uniform(0.5, 1.0, 10)
    for k in range(nz):
        if not metal[k].any():
            continue
        jj, ii = np.nonzero(metal[k])
        cx, cy = x[0, ii].mean(), y[jj, 0].mean()
        dx, dy = x - cx, y - cy
        r = np.sqrt(dx * dx + dy * dy) + 1.0
        acc = np.zeros_like(hu[k])
        for a, s in zip(angles, signs):
            dist = np.abs(-np.sin(a) * dx + np.cos(a) * dy)
            acc += np.float32(s) * np.exp(-(dist * dist) / np.float32(2 * 0.6**2))
        hu[k] += np.float32(amplitude_hu) * acc * np.minimum(np.float32(10.0) / r, 1.0)


def centred_box_filter(values: np.ndarray, widths_vox, *, mode: str = "nearest") -> np.ndarray:
    """Average over a box `widths_vox` voxels wide per axis, centred on each voxel (float32).

    The box of an even width covers half a voxel on either side (weights ``[0.5, 1, ..., 1, 0.5] / w``),
    so the image does not move. ``scipy.ndimage.uniform_filter`` with an even size averages
    ``[k - w/2, k + w/2 - 1]`` and shifts the image by half a voxel against its labels.
    """
    out = np.asarray(values, np.float32)
    for axis, w in enumerate(widths_vox):
        w = int(w)
        if w < 1:
            raise ValueError(f"box widths must be >= 1 voxel, got {widths_vox}")
        if w == 1:
            continue
        taps = np.ones(w + 1 - w % 2, np.float32)
        if w % 2 == 0:
            taps[[0, -1]] = 0.5
        out = ndimage.correlate1d(out, taps / np.float32(w), axis=axis, mode=mode)
    return out


def correlated_noise(shape_zyx, corr: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD Gaussian noise correlated in plane by a separable 3-tap kernel [corr, 1, corr] (float32)."""
    noise = rng.standard_normal(shape_zyx, dtype=np.float32)
    c = np.float32(corr)
    for axis in (1, 2):
        out = noise.copy()
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        out[tuple(lo)] += c * noise[tuple(hi)]
        out[tuple(hi)] += c * noise[tuple(lo)]
        noise = out
    noise *= np.float32(1.0 / (1.0 + 2.0 * corr * corr))  # unit variance again (two axes)
    return noise


def apply_physics(hu: np.ndarray, grid: Grid, phys: dict, *, isocentre_world_mm, rng: np.random.Generator,
                  blur_blocks=None) -> np.ndarray:
    """Blur, artefacts, noise, offsets and clipping; returns float32 HU on the same grid (modifies `hu`).

    `blur_blocks` (list of zyx slice tuples) limits the numerical PSF blur to those blocks -- the
    rest of the image must then have been painted with PSF-wide edges (:func:`.render.render`).
    """
    sp = np.asarray(grid.spacing_mm, float)
    if phys["protocol"] == "cbct":
        bone = hu > 200
        hu[bone] = np.float32(200) + (hu[bone] - np.float32(200)) * np.float32(phys["bone_gain"])
    metal = hu > 3000
    if metal.any():
        metal_streaks(hu, grid, 700.0 if phys["protocol"] == "mdct" else 900.0, rng)
    sig_mm = np.array([phys["psf_fwhm_mm"], phys["psf_fwhm_mm"], phys["slice_fwhm_mm"]]) / 2.3548
    sigma_vox = (sig_mm / sp)[::-1]
    if blur_blocks is None:
        hu = ndimage.gaussian_filter(hu, sigma_vox, mode="nearest", truncate=3.0)
    else:
        for block in blur_blocks:
            hu[block] = ndimage.gaussian_filter(hu[block], sigma_vox, mode="nearest", truncate=3.0)
    noise = correlated_noise(hu.shape, phys["noise_corr"], rng)
    noise *= np.float32(phys["noise_sd_hu"])
    hu += noise
    del noise
    if phys["protocol"] == "cbct":
        x, y = _inplane_coords(grid, isocentre_world_mm)
        r2 = (x * x + y * y) / np.float32(80.0**2)
        shading = np.float32(-phys["cupping_hu"]) * np.clip(1.0 - r2, 0.0, 1.0)
        for i, a in enumerate(np.radians(phys["streak_angles_deg"])):
            dist = np.abs(-np.sin(a) * x + np.cos(a) * y - np.float32(3.0 * i - 12.0))
            shading = shading + np.float32(phys["streak_hu"] * (-1) ** i) * np.exp(-(dist * dist) / np.float32(0.5))
        hu += shading[None].astype(np.float32)
    hu *= np.float32(phys["hu_gain"])
    hu += np.float32(phys["hu_offset"])
    np.clip(hu, -1024.0, 3071.0, out=hu)
    return hu
