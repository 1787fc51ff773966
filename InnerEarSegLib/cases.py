"""The one case id: how a CT, label map, segmentation or ratings file is named after its case.

``segment`` writes it into ``report.json``, the review panel stores ratings under it and ``evaluate``
joins predictions, references and ratings by it, so all three must derive it the same way:

>>> [case_id_from_path(p) for p in ("phantom_00042_ct.nii.gz", "phantom_00042_labels.nii.gz",
...                                 "phantom_00042.seg.nrrd", "case7/labels.nii.gz", "case7/ct.nrrd")]
['phantom_00042', 'phantom_00042', 'phantom_00042', 'case7', 'case7']
"""
from __future__ import annotations

import os
import re
from pathlib import Path

#: File extensions of images and segmentations, longest first (``.seg.nrrd`` before ``.nrrd``).
IMAGE_EXTENSIONS = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".dcm")
#: Words that name a file's role, not its case: ``<case>_ct``, ``<case>_labels``, ``<case>-gt`` ...
ROLE_WORDS = ("ct", "image", "labels", "label", "seg", "segmentation", "pred", "prediction", "ref", "reference",
              "gt", "mask", "ratings")
_ROLE_SUFFIX = re.compile(r"[_-](" + "|".join(ROLE_WORDS) + r")$", re.IGNORECASE)
#: The case id when a name is nothing but a role word and has no parent folder to name it.
FALLBACK_CASE_ID = "case"


def strip_image_extension(name: str) -> str:
    """``"x_ct.nii.gz"`` -> ``"x_ct"``; a name without a known extension is returned as it is."""
    low = name.lower()
    for ext in IMAGE_EXTENSIONS:
        if low.endswith(ext):
            return name[: -len(ext)]
    return name


def file_role(path: str | os.PathLike) -> str | None:
    """The role word a file name ends with (``"ct"`` for ``x_ct.nii.gz``, ``"labels"`` for ``labels.nii.gz``)."""
    stem = strip_image_extension(Path(path).name)
    if stem.lower() in ROLE_WORDS:
        return stem.lower()
    match = _ROLE_SUFFIX.search(stem)
    return match.group(1).lower() if match else None


def case_id_from_path(path: str | os.PathLike) -> str:
    """The case id of a file or folder path.

    The image extension is removed, then one trailing role word (``_ct``, ``_labels``, ``-gt``, ...).
    A name that is only a role word (``labels.nii.gz``, ``ct.nrrd``) takes its folder's name; a DICOM
    series folder is named by itself.

    Parameters
    ----------
    path : a CT, label map, segmentation file, or a case / DICOM folder.

    Returns
    -------
    str : never empty (``"case"`` when nothing names the case).
    """
    path = Path(path)
    stem = strip_image_extension(path.name)
    if stem.lower() in ROLE_WORDS:
        parent = path.parent.name
        return case_id_from_path(parent) if parent else FALLBACK_CASE_ID
    return _ROLE_SUFFIX.sub("", stem) or FALLBACK_CASE_ID
