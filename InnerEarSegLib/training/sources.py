"""Where training and validation samples come from: phantom ear boxes drawn from a seed, or a user's labelled CTs.

A sample is one ear box on the model grid: ``(hu_zyx float32, labels_zyx uint8)`` with the model's
classes (0 background, 1-5 the structures in catalogue order), a right ear mirrored as inference
mirrors it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..box import BoxSpec, make_ear_box, resample_to_box
from ..labels import SIDES, Side, split_two_ear


class SampleSource(Protocol):
    """Makes one training sample from a seed: ``(hu_zyx float32, labels_zyx uint8 0-5)`` on the box grid."""

    def __call__(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        ...


@dataclass(frozen=True)
class PhantomSource:
    """Phantom ear boxes from :func:`InnerEarSegLib.phantom.generate_roi`; every choice is drawn from the seed.

    Side, protocol and pathology as for model 2.0.0; the anatomy is ``calibrated`` (ranges calibrated
    to real labyrinths, elastic deformation) with probability `calibrated_fraction`, else ``classic``;
    the appearance is ``randomised`` (random tissue intensities, acquisition, artefacts, distractors)
    with probability `randomised_fraction`, else the renderer's own HU; the box centre is off the
    labyrinth centre by a uniform draw in +-`centre_offset_mm` per axis (None: the generator's +-3 mm),
    so structure names cannot be read off the box position alone. The defaults give model 2.0.0's data.
    """

    spec: BoxSpec = field(default_factory=BoxSpec)
    cbct_fraction: float = 0.35
    pathology_rate: float = 0.25
    calibrated_fraction: float = 0.0
    randomised_fraction: float = 0.0
    centre_offset_mm: float | None = None

    def choices(self, seed: int) -> dict:
        """What sample `seed` is: side, protocol, pathologies, anatomy, appearance, box centre offset."""
        rng = np.random.default_rng([seed, 7])
        side = Side.LEFT if rng.random() < 0.5 else Side.RIGHT
        protocol = "cbct" if rng.random() < self.cbct_fraction else "mdct"
        pathologies: tuple[str, ...] = ()
        available = available_pathologies()
        if available and rng.random() < self.pathology_rate:
            pathologies = (str(rng.choice(available)),)
        choice = {"side": side, "protocol": protocol, "pathologies": pathologies}
        # A second stream, so a seed's first three choices do not depend on the options below.
        more = np.random.default_rng([seed, 8])
        choice["anatomy"] = "calibrated" if more.random() < self.calibrated_fraction else "classic"
        choice["appearance"] = "randomised" if more.random() < self.randomised_fraction else "classic"
        offset = more.uniform(-1.0, 1.0, 3)
        choice["centre_offset_mm"] = (None if self.centre_offset_mm is None
                                      else tuple(float(v) for v in offset * self.centre_offset_mm))
        return choice

    def __call__(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        import SimpleITK as sitk

        from ..phantom.generate import generate_roi

        c = self.choices(seed)
        ct, labels, _ = generate_roi(seed, c["side"], spec=self.spec, protocol=c["protocol"],
                                     pathologies=c["pathologies"], centre_offset_mm=c["centre_offset_mm"],
                                     anatomy=c["anatomy"], appearance=c["appearance"])
        return (sitk.GetArrayFromImage(ct).astype(np.float32),
                sitk.GetArrayFromImage(labels).astype(np.uint8))


def available_pathologies() -> tuple[str, ...]:
    """Names of the phantom's pathologies, sorted (empty if the phantom package has none)."""
    try:
        from ..phantom.pathology import PATHOLOGIES as names
    except ImportError:
        return ()
    return tuple(sorted(names)) if names else ()


# ----------------------------------------------------------------------------- a user's labelled cases

@dataclass(frozen=True)
class LabelledEar:
    """One ear of a user's labelled CT, cut out as the model sees it."""

    case_id: str
    side: Side
    hu: np.ndarray
    labels: np.ndarray


def find_labelled_cases(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """``(case_id, ct_path, labels_path)`` for every case in `folder` that has both a CT and a label map.

    Files are paired by the one case id (:func:`~InnerEarSegLib.cases.case_id_from_path`):
    ``case7_ct.nii.gz`` + ``case7_labels.nii.gz``, or ``case7/ct.nrrd`` + ``case7/labels.nrrd``.
    The label map holds the project's two-ear labels (right 1-5, left 11-15).

    Raises
    ------
    ValueError : the folder does not exist, or no case has both files (naming what was found).
    """
    from ..cases import IMAGE_EXTENSIONS, case_id_from_path, file_role
    from ..evaluate.study import find_label_files

    folder = Path(folder)
    labels = find_label_files(folder)
    cts: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name.lower().endswith(IMAGE_EXTENSIONS) and file_role(p) in ("ct", "image"):
            cts.setdefault(case_id_from_path(p), p)
    pairs = [(cid, cts[cid], labels[cid]) for cid in sorted(labels) if cid in cts]
    if not pairs:
        raise ValueError(f"{str(folder)!r} holds no case with both a CT (<case>_ct.*) and a label map "
                         f"(<case>_labels.*): found {len(cts)} CT(s) and {len(labels)} label map(s)")
    return pairs


def labelled_ears(folder: str | Path, spec: BoxSpec = BoxSpec()) -> list[LabelledEar]:
    """Each labelled ear of the cases in `folder`, in a model box centred on its labels' centroid.

    The CT is resampled linearly, the labels by nearest neighbour, onto the same box the segmenter
    would use for that ear; labels of the other ear in the box are dropped.
    """
    import SimpleITK as sitk

    from ..imageio import read_image

    ears = []
    for case_id, ct_path, labels_path in find_labelled_cases(folder):
        ct = read_image(ct_path)
        label_image = sitk.ReadImage(str(labels_path))
        try:
            per_side = split_two_ear(sitk.GetArrayFromImage(label_image))
        except ValueError as exc:
            raise ValueError(f"{labels_path}: {exc}") from None
        for side in SIDES:
            mask = per_side[side] > 0
            if not mask.any():
                continue
            centroid_zyx = np.argwhere(mask).mean(axis=0)
            centre = label_image.TransformContinuousIndexToPhysicalPoint([float(v) for v in centroid_zyx[::-1]])
            box = make_ear_box(centre, side, spec)
            hu = sitk.GetArrayFromImage(resample_to_box(ct, box)).astype(np.float32)
            ear_image = sitk.GetImageFromArray(per_side[side])
            ear_image.CopyInformation(label_image)
            labels = resample_to_box(ear_image, box, interpolator=sitk.sitkNearestNeighbor, default_value=0,
                                     pixel_type=sitk.sitkUInt8)
            ears.append(LabelledEar(case_id, side, hu, sitk.GetArrayFromImage(labels).astype(np.uint8)))
    return ears
