"""Write the two-ear label map as a DICOM Segmentation (SEG) object with highdicom.

The SEG refers to the DICOM series the CT was read from (its study, series, SOP instances and frame of
reference, kept by :func:`InnerEarSegLib.imageio.read_image_with_source`), holds ten segments (right ear
1-5, left ear 6-10, in :func:`InnerEarSegLib.labels.all_labels` order) and lies on the label map's own grid
(0.3 mm, the model's resolution), voxel for voxel: frame ``k`` is slice ``k`` of the label map.

Coded concepts, each from a citable source:

- property category ``(91723000, SCT, "Anatomical Structure")`` — DICOM PS3.16 CID 7150 (pydicom's
  ``codes.SCT.AnatomicalStructure``);
- anatomic region ``(22945000, SCT, "Inner ear")`` — DICOM PS3.16 CID 4028 / 7151 (pydicom's
  ``codes.SCT.InnerEar``); SNOMED CT concept 22945000 "Inner ear structure";
- laterality ``(24028007, SCT, "Right")`` / ``(7771000, SCT, "Left")`` — DICOM PS3.16 CID 244 (pydicom's
  ``codes.SCT.Right`` / ``codes.SCT.Left``), as modifier of the property type and of the anatomic region;
- property type of the cochlea ``(80169004, SCT, "Cochlear structure")`` — SNOMED CT concept 80169004
  (browser: https://tx-dev.fhir.org/snomed/45991000052106-20231130/?id=80169004).

No SNOMED CT code for the bony vestibule or for each bony semicircular canal could be verified (DICOM's
CIDs hold none; the nearest SNOMED concepts found, e.g. 79989003, are the membranous semicircular *ducts*,
not the canals segmented here). These four property types therefore use the private coding scheme
:data:`PRIVATE_SCHEME` (``99`` prefix = private, DICOM PS3.3 C.12.1.1.2.3), declared in the SEG's Coding
Scheme Identification Sequence.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .labels import Side, Structure, all_labels

log = logging.getLogger(__name__)

PRIVATE_SCHEME = "99IESEG"
PRIVATE_SCHEME_NAME = "InnerEarSeg private codes"
SEG_FILE = "segmentation.dcm"
SEG_SERIES_NUMBER = 901
MANUFACTURER = "InnerEarSeg"

#: (code value, coding scheme designator, code meaning) per structure; see the module docstring for sources.
STRUCTURE_CODES: dict[Structure, tuple[str, str, str]] = {
    Structure.COCHLEA: ("80169004", "SCT", "Cochlear structure"),
    Structure.VESTIBULE: ("IES002", PRIVATE_SCHEME, "Vestibule of bony labyrinth"),
    Structure.SUPERIOR_CANAL: ("IES003", PRIVATE_SCHEME, "Superior (anterior) bony semicircular canal"),
    Structure.LATERAL_CANAL: ("IES004", PRIVATE_SCHEME, "Lateral bony semicircular canal"),
    Structure.POSTERIOR_CANAL: ("IES005", PRIVATE_SCHEME, "Posterior bony semicircular canal"),
}
CATEGORY_CODE = ("91723000", "SCT", "Anatomical Structure")
REGION_CODE = ("22945000", "SCT", "Inner ear")
LATERALITY_CODES = {Side.RIGHT: ("24028007", "SCT", "Right"), Side.LEFT: ("7771000", "SCT", "Left")}


def segment_numbers() -> dict[int, int]:
    """Two-ear label value (1-5, 11-15) -> SEG segment number (1-10)."""
    return {info.value: i + 1 for i, info in enumerate(all_labels())}


def label_volume(label_image: sitk.Image, *, frame_of_reference_uid: str | None = None):
    """The label map as a :class:`highdicom.Volume` of segment numbers (0 background, 1-10) on the same grid.

    Axis 0 of the volume is the image's z index, axis 1 its y (rows), axis 2 its x (columns); the affine
    maps (k, j, i) to LPS mm exactly as SimpleITK maps (i, j, k).
    """
    import highdicom as hd

    labels = sitk.GetArrayFromImage(label_image)
    lut = np.zeros(256, dtype=np.uint8)
    for value, number in segment_numbers().items():
        lut[value] = number
    unknown = np.setdiff1d(np.unique(labels), [0, *segment_numbers()])
    if unknown.size:
        raise ValueError(f"label_image holds values {unknown.tolist()} that are not two-ear labels (1-5, 11-15)")
    direction = np.asarray(label_image.GetDirection(), float).reshape(3, 3)
    spacing = np.asarray(label_image.GetSpacing(), float)
    affine = np.eye(4)
    affine[:3, :3] = (direction * spacing)[:, ::-1]  # columns: z, y, x axes of the array
    affine[:3, 3] = label_image.GetOrigin()
    return hd.Volume(lut[labels], affine, coordinate_system="PATIENT", frame_of_reference_uid=frame_of_reference_uid)


def _code(triple):
    from pydicom.sr.coding import Code

    value, scheme, meaning = triple
    return Code(value, scheme, meaning)


def segment_descriptions(*, model_name: str, model_version: str) -> list:
    """The ten :class:`highdicom.seg.SegmentDescription` items, segment numbers 1-10."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(name=model_name, version=model_version,
                                                   family=codes.cid7162.ArtificialIntelligence)
    out = []
    for number, info in enumerate(all_labels(), start=1):
        region = hd.sr.CodedConcept.from_code(_code(REGION_CODE))
        side = hd.sr.CodedConcept.from_code(_code(LATERALITY_CODES[info.side]))
        desc = hd.seg.SegmentDescription(
            segment_number=number, segment_label=info.name,
            segmented_property_category=_code(CATEGORY_CODE),
            segmented_property_type=_code(STRUCTURE_CODES[info.structure]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, anatomic_regions=[region],
            tracking_id=info.name, tracking_uid=hd.UID(),
            display_color=hd.color.CIELabColor.from_rgb(*(255 * np.asarray(info.color_rgb))))
        # PS3.3 C.8.20.2: the laterality modifies the property type inside its code item
        desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [side]
        desc.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [
            hd.sr.CodedConcept.from_code(_code(LATERALITY_CODES[info.side]))]
        out.append(desc)
    return out


def read_source_datasets(files) -> list:
    """The headers (no pixel data) of the source slices, in the order they were read."""
    import pydicom

    return [pydicom.dcmread(str(f), stop_before_pixels=True) for f in files]


def build_dicom_seg(label_image: sitk.Image, references, *, model: dict, software_version: str = "unknown"):
    """A :class:`highdicom.seg.Segmentation` of `label_image` that refers to the DICOM series of `references`.

    Parameters
    ----------
    label_image : uint8 two-ear label map (right 1-5, left 11-15) in LPS world space.
    references : :class:`~InnerEarSegLib.imageio.DicomReferences` of the CT it was computed from.
    model : the result's model summary (``name``, ``version``); the version is the algorithm's.

    Raises
    ------
    InputError : `references` is None (the CT was not read from DICOM).
    """
    import highdicom as hd
    from pydicom.dataset import Dataset

    if references is None or not references.files:
        raise InputError("a DICOM SEG needs a DICOM input to refer to; this CT was not read from a DICOM series. "
                         "Give the DICOM folder as input, or leave out --dicom-seg.")
    sources = read_source_datasets(references.files)
    volume = label_volume(label_image, frame_of_reference_uid=sources[0].FrameOfReferenceUID)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=volume, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(model_name=str(model.get("name", "unknown")),
                                                  model_version=str(model.get("version", "unknown"))),
        series_instance_uid=hd.UID(), series_number=SEG_SERIES_NUMBER, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer=MANUFACTURER, manufacturer_model_name=str(model.get("name", "unknown")),
        software_versions=software_version, device_serial_number="none",
        series_description=f"InnerEarSeg {model.get('name', '')} {model.get('version', '')}".strip(),
        content_label="INNEREAR", content_description="Inner ear structures, both ears",
        omit_empty_frames=False)
    scheme = Dataset()
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    scheme.CodingSchemeName = PRIVATE_SCHEME_NAME
    scheme.CodingSchemeResponsibleOrganization = MANUFACTURER
    existing = list(getattr(seg, "CodingSchemeIdentificationSequence", []))
    seg.CodingSchemeIdentificationSequence = existing + [scheme]
    return seg


def write_dicom_seg(label_image: sitk.Image, references, path, *, model: dict,
                    software_version: str = "unknown") -> Path:
    """Build the SEG (:func:`build_dicom_seg`) and write it to `path`; returns `path`."""
    seg = build_dicom_seg(label_image, references, model=model, software_version=software_version)
    path = Path(path)
    seg.save_as(str(path))
    return path
