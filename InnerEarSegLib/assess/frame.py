"""From a world-space label image to per-ear arrays in the ear-box frame (x lateral, y posterior, z superior)."""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..box import BoxSpec, make_ear_box
from ..labels import Side, split_two_ear

#: Components further apart than this along world x belong to different ears (ears are ~60-70 mm apart).
EAR_GAP_MM = 30.0


def _side_of_single_ear(image: sitk.Image, centroid_lps_mm: np.ndarray) -> Side:
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    if direction[0, 0] < 0:  # a right-ear box (mirrored x)
        return Side.RIGHT
    size = np.asarray(image.GetSize(), float)
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint((size - 1) / 2.0))
    return Side.LEFT if centroid_lps_mm[0] > centre[0] else Side.RIGHT


def _with_array(array: np.ndarray, like: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(array.astype(np.uint8))
    out.CopyInformation(like)
    return out


def _centroid_lps_mm(image: sitk.Image, mask_zyx: np.ndarray) -> np.ndarray:
    idx_xyz = np.argwhere(mask_zyx).mean(axis=0)[::-1]
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in idx_xyz]))


def ear_masks_from_image(image: sitk.Image, *, binary: bool = False,
                         side: Side | str | None = None) -> list[tuple[Side, sitk.Image]]:
    """Split a label image into one per-ear label image (structure values, or 0/1 for binary) per ear found.

    Raises
    ------
    ValueError
        If the image holds no labels, or values that are not two-ear labels (without ``binary``; see
        :func:`~InnerEarSegLib.labels.describe_two_ear_labels`).
    """
    arr = sitk.GetArrayFromImage(image)
    if not arr.any():
        raise ValueError("the label image is empty: no ear to assess")
    forced = None if side is None else Side(side)
    if not binary:
        try:
            per_side = split_two_ear(arr)
        except ValueError as exc:
            raise ValueError(f"{exc}, or pass binary=True (--binary) for a labyrinth mask") from None
        right, left = per_side[Side.RIGHT], per_side[Side.LEFT]
        if forced is not None:
            return [(forced, _with_array(right + left, image))]
        return [(s, _with_array(a, image)) for s, a in ((Side.RIGHT, right), (Side.LEFT, left)) if a.any()]
    mask = arr > 0
    if forced is not None:
        return [(forced, _with_array(mask, image))]
    comps, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    index = np.arange(1, n + 1)
    centres = np.asarray(ndimage.center_of_mass(mask, comps, index))  # (n, 3) z, y, x
    sizes = ndimage.sum(mask, comps, index)
    xs = np.array([image.TransformContinuousIndexToPhysicalPoint([float(v) for v in c[::-1]])[0]
                   for c in centres])
    order = np.argsort(xs)
    gaps = np.diff(xs[order])
    if len(gaps) and gaps.max() > EAR_GAP_MM:
        cut = xs[order][int(np.argmax(gaps))] + gaps.max() / 2.0
        right = np.isin(comps, index[xs < cut])
        left = np.isin(comps, index[xs >= cut])
        return [(Side.RIGHT, _with_array(right, image)), (Side.LEFT, _with_array(left, image))]
    main = index[np.argmax(sizes)]
    return [(_side_of_single_ear(image, _centroid_lps_mm(image, comps == main)), _with_array(mask, image))]


def resample_ear(ear_image: sitk.Image, side: Side, *, spec: BoxSpec | None = None) -> tuple[np.ndarray, tuple]:
    """Nearest-neighbour resample of one ear's labels onto an ear box around the centroid of its largest part.

    Returns the (z, y, x) uint8 array in the box frame (x lateral) and its spacing (z, y, x) in mm.
    """
    spec = spec or BoxSpec()
    arr = sitk.GetArrayViewFromImage(ear_image) > 0
    comps, n = ndimage.label(arr, structure=np.ones((3, 3, 3), bool))
    main = comps == (np.argmax(np.bincount(comps.ravel())[1:]) + 1) if n else arr
    # weight the whole ear but keep the box on the main piece: far fragments must not pull it away
    centre = 0.5 * _centroid_lps_mm(ear_image, main) + 0.5 * _centroid_lps_mm(ear_image, arr)
    box = make_ear_box(centre, Side(side), spec)
    moved = sitk.Resample(ear_image, box.reference_image(sitk.sitkUInt8), sitk.Transform(),
                          sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(moved), (spec.spacing_mm,) * 3
