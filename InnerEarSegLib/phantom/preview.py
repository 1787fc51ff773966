"""PNG montage of a phantom case: for each labyrinth, axial, coronal and sagittal slices through its
centre with the labels outlined, and a 3-D rendering of the label surfaces (marching cubes).

Radiological display: axial slices show the patient's right on the image left and anterior at the
top; coronal and sagittal slices show superior at the top.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..labels import STRUCTURE_COLORS_RGB, Side, Structure

HALF_MM = 13.0


def _crop(ct, lab, centre_idx_zyx, spacing_xyz):
    half = [int(round(HALF_MM / s)) for s in spacing_xyz[::-1]]
    lo = [max(int(c) - h, 0) for c, h in zip(centre_idx_zyx, half)]
    hi = [min(int(c) + h + 1, n) for c, h, n in zip(centre_idx_zyx, half, ct.shape)]
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    return ct[sl], lab[sl], [int(c) - a for c, a in zip(centre_idx_zyx, lo)]


def _outline(ax, lab2d, offset, extent, origin):
    for st in Structure:
        m = lab2d == int(st) + offset
        if m.any():
            ax.contour(m.astype(float), levels=[0.5], colors=[STRUCTURE_COLORS_RGB[st]], linewidths=0.9,
                       extent=extent, origin=origin)


def _surface(ax, lab, offset, spacing_zyx, azim=-60.0):
    from skimage.measure import marching_cubes

    for st in Structure:
        m = lab == int(st) + offset
        if m.sum() < 4:
            continue
        smooth = ndimage.gaussian_filter(np.pad(m, 2).astype(np.float32), [0.6 * 0.3 / s for s in spacing_zyx])
        if smooth.max() <= 0.5:
            continue
        verts, faces, _, _ = marching_cubes(smooth, 0.5, spacing=tuple(spacing_zyx))
        ax.plot_trisurf(verts[:, 2], verts[:, 1], verts[:, 0], triangles=faces, color=STRUCTURE_COLORS_RGB[st],
                        linewidth=0.0, antialiased=False, shade=True)
    ax.view_init(elev=20, azim=azim)
    ax.set_axis_off()
    ax.set_box_aspect((1, 1, 1))


def preview_png(ct: sitk.Image, labels: sitk.Image, meta: dict, path, *, title: str | None = None,
                window_hu=(-1000.0, 3000.0), dpi: int = 80) -> Path:
    """Write the montage for every ear listed in ``meta["ears"]`` (or the ROI ear) to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ears = meta.get("ears") or [meta]
    a = sitk.GetArrayViewFromImage(ct)
    lab = sitk.GetArrayViewFromImage(labels)
    sp = ct.GetSpacing()
    fig = plt.figure(figsize=(13.0, 3.3 * len(ears) + 0.4))
    for row, ear in enumerate(ears):
        side = Side(ear["side"])
        offset = side.label_offset if meta.get("mode") == "full" else 0
        centre = ear["landmarks_lps_mm"].get("vestibule_centre", ear["labyrinth_centre_lps_mm"])
        cidx = np.array(ct.TransformPhysicalPointToContinuousIndex(centre))[::-1]
        cidx = np.clip(np.rint(cidx).astype(int), 0, np.array(a.shape) - 1)
        img, lb, c = _crop(a, lab, cidx, sp)
        dz, dy, dx = sp[2], sp[1], sp[0]
        views = [
            ("axial", img[c[0]], lb[c[0]], [0, img.shape[2] * dx, img.shape[1] * dy, 0], "upper"),
            ("coronal", img[:, c[1]], lb[:, c[1]], [0, img.shape[2] * dx, 0, img.shape[0] * dz], "lower"),
            ("sagittal", img[:, :, c[2]], lb[:, :, c[2]], [0, img.shape[1] * dy, 0, img.shape[0] * dz], "lower"),
        ]
        flip = side is Side.RIGHT and meta.get("mode") != "full"  # ROI boxes of right ears are mirrored
        for col, (name, im, l2, ext, origin) in enumerate(views):
            ax = fig.add_subplot(len(ears), 4, 4 * row + col + 1)
            ax.imshow(im, cmap="gray", vmin=window_hu[0], vmax=window_hu[1], extent=ext, origin=origin,
                      interpolation="nearest")
            _outline(ax, l2, offset, ext, origin)
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"{side.value} ear, {name}" + (" (box, mirrored)" if flip else "")
            ax.set_title(label, fontsize=9)
        ax3 = fig.add_subplot(len(ears), 4, 4 * row + 4, projection="3d")
        lateral_view = -150.0 if (side is Side.RIGHT and meta.get("mode") == "full") else -30.0
        _surface(ax3, np.asarray(lb), offset, (dz, dy, dx), azim=lateral_view)
        status = ", ".join(f"{k}: {v}" for k, v in ear["structures_present"].items() if v != "present")
        ax3.set_title(f"Likert {ear['likert']}" + (f" ({status})" if status else ""), fontsize=8)
    fig.suptitle(title or meta.get("case_id", ""), fontsize=10)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
