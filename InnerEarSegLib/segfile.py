"""Write a two-ear label image as a Slicer ``.seg.nrrd`` (slicerio) with segment names and colours."""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .geometry import ijk_to_lps_matrix
from .labels import all_labels


def label_image_to_segmentation(label_image: sitk.Image, *, terminology: dict[int, str] | None = None) -> dict:
    """A slicerio segmentation dict: one segment per two-ear label (every label of the catalogue, even when empty), one layer.

    Segment IDs are stable (``Right_cochlea`` ...), label values equal the two-ear values (:func:`~InnerEarSegLib.labels.label_value`), so
    reading the file back with any NRRD reader gives the same label map.
    """
    labels_zyx = sitk.GetArrayFromImage(label_image).astype(np.uint8)
    segments = []
    for info in all_labels():
        seg = {
            "id": info.segment_id,
            "name": info.name,
            "color": [round(c, 4) for c in info.color_rgb],
            "labelValue": info.value,
            "layer": 0,
        }
        if terminology and info.value in terminology:
            seg["tags"] = {"TerminologyEntry": terminology[info.value]}
        idx = np.nonzero(labels_zyx == info.value)
        if idx[0].size:  # extent in (i, j, k) = (x, y, z) order
            seg["extent"] = [int(v) for axis in (idx[2], idx[1], idx[0]) for v in (axis.min(), axis.max())]
        else:
            seg["extent"] = [0, -1, 0, -1, 0, -1]
        segments.append(seg)
    return {
        "voxels": labels_zyx.transpose(2, 1, 0),  # slicerio writes (i, j, k) in Fortran order
        "ijkToLPS": ijk_to_lps_matrix(label_image),
        "segments": segments,
        "containedRepresentationNames": ["Binary labelmap"],
        "masterRepresentation": "Binary labelmap",
    }


def write_seg_nrrd(label_image: sitk.Image, path, *, terminology: dict[int, str] | None = None) -> None:
    """Write `label_image` (two-ear values) to `path` as a Slicer segmentation file."""
    import slicerio

    slicerio.write_segmentation(str(path), label_image_to_segmentation(label_image, terminology=terminology))
