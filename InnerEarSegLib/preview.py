"""PNG preview of a segmentation: per ear, axial / coronal / sagittal CT slices through the labyrinth
with the structure outlines, and a 3-D rendering of the structures. Radiological convention
(patient right on the image left); the right ear's mirrored box is flipped back for display.
"""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .box import EarBox, resample_to_box
from .labels import STRUCTURE_COLORS_RGB, STRUCTURES, Side


def _display_orient(array_zyx: np.ndarray, side: Side) -> np.ndarray:
    """Flip the box's lateral x axis so patient right sits on the image left in every ear's panels."""
    return array_zyx[:, :, ::-1] if side is Side.RIGHT else array_zyx


def _planes(ct: np.ndarray, labels: np.ndarray):
    """Axial, coronal and sagittal slices through the labels' centroid (or the box centre)."""
    pts = np.argwhere(labels > 0)
    zc, yc, xc = (np.round(pts.mean(axis=0)).astype(int) if len(pts) else np.array(ct.shape) // 2)
    return [
        ("axial", ct[zc], labels[zc], "upper"),
        ("coronal", ct[:, yc, :], labels[:, yc, :], "lower"),
        ("sagittal", ct[:, :, xc], labels[:, :, xc], "lower"),
    ]


def _draw_slice(ax, ct2d, lab2d, origin, title):
    """CT slice and structure outlines on the same pixel grid: row r, column c at (x=c, y=r) for both."""
    ax.imshow(ct2d, cmap="gray", vmin=-500, vmax=2500, origin=origin, interpolation="nearest")
    for s in STRUCTURES:
        m = lab2d == s
        if m.any():  # contour's default X, Y are the pixel centres imshow uses; its `origin` would flip it
            ax.contour(m.astype(float), levels=[0.5], colors=[STRUCTURE_COLORS_RGB[s]], linewidths=0.9)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def _draw_3d(ax, labels: np.ndarray, spacing_mm: float, title: str):
    from skimage.measure import marching_cubes

    for s in STRUCTURES:
        m = labels == s
        if np.count_nonzero(m) < 8:
            continue
        try:  # step 2 is fast but finds no surface in a few scattered voxels; step 1 always does
            verts, faces, _, _ = marching_cubes(np.pad(m, 1).astype(np.float32), 0.5, step_size=2)
        except (RuntimeError, ValueError):
            verts, faces, _, _ = marching_cubes(np.pad(m, 1).astype(np.float32), 0.5, step_size=1)
        verts = (verts - 1) * spacing_mm
        ax.plot_trisurf(verts[:, 2], verts[:, 1], verts[:, 0], triangles=faces,
                        color=STRUCTURE_COLORS_RGB[s], linewidth=0, antialiased=False, shade=True)
    n = labels.shape[0] * spacing_mm
    ax.set_xlim(0, n), ax.set_ylim(n, 0), ax.set_zlim(0, n)
    ax.view_init(elev=20, azim=-60)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def render_preview(image: sitk.Image, ears, path, *, title: str = "") -> None:
    """Write a PNG montage for `ears` (objects with ``side``, ``box: EarBox``, ``labels_box``) of CT `image`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ears = sorted(ears, key=lambda e: e.side is Side.LEFT)  # right ear first (left of the figure)
    fig = plt.figure(figsize=(10, 2.6 * max(1, len(ears)) + 0.5), dpi=110)
    for row, ear in enumerate(ears):
        box: EarBox = ear.box
        ct = _display_orient(sitk.GetArrayFromImage(resample_to_box(image, box)), ear.side)
        lab = _display_orient(np.asarray(ear.labels_box), ear.side)
        for col, (plane, c2, l2, origin) in enumerate(_planes(ct, lab)):
            ax = fig.add_subplot(len(ears), 4, 4 * row + col + 1)
            _draw_slice(ax, c2, l2, origin, f"{ear.side.value} ear, {plane}")
        ax3 = fig.add_subplot(len(ears), 4, 4 * row + 4, projection="3d")
        _draw_3d(ax3, lab, box.spec.spacing_mm, f"{ear.side.value} ear, 3-D")
    handles = [Patch(color=STRUCTURE_COLORS_RGB[s], label=s.display_name) for s in STRUCTURES]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97 if title else 1))
    fig.savefig(path, format="png")
    plt.close(fig)
