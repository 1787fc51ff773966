"""DICOM in, DICOM SEG out: a CT written as a DICOM series is segmented with --dicom-seg and the SEG, read
back with highdicom, refers to that series, codes its ten segments and lies voxel for voxel on the label map."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dicom_series import write_ct_series  # noqa: E402

pytestmark = pytest.mark.slow


def _volume_image(volume) -> sitk.Image:
    """A highdicom Volume as a SimpleITK image (array axes 0, 1, 2 = z, y, x)."""
    affine = np.asarray(volume.affine, float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = (affine[:3, :3] / spacing)[:, ::-1]
    image = sitk.GetImageFromArray(np.asarray(volume.array).astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    return image


def test_a_dicom_series_gets_a_seg_that_refers_to_it_codes_ten_segments_and_matches_the_label_map(
        small_cts, tiny_model, tmp_path, capsys):
    import highdicom as hd
    import pydicom

    uids = write_ct_series(small_cts["case21"], tmp_path / "dicom" / "P021", seed=3)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "dicom" / "P021"), "-o", str(out), "--model", str(tiny_model),
                 "--no-meshes", "--dicom-seg", "--progress", "none"]) == 0
    seg = hd.seg.segread(str(out / "segmentation.dcm"))
    source = pydicom.dcmread(sorted((tmp_path / "dicom" / "P021").iterdir())[0], stop_before_pixels=True)

    # references: same patient, study and frame of reference; the CT series is the referenced series
    assert seg.StudyInstanceUID == uids["study"] and seg.FrameOfReferenceUID == uids["frame_of_reference"]
    assert seg.PatientID == "PHANTOM" and seg.SeriesInstanceUID != uids["series"]
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == uids["series"]
    assert source.SOPInstanceUID in {i.ReferencedSOPInstanceUID for i in referenced.ReferencedInstanceSequence}

    # ten segments with coded concepts and the model as algorithm
    assert seg.number_of_segments == 10
    first, sixth = seg.get_segment_description(1), seg.get_segment_description(6)
    assert (first.segment_label, sixth.segment_label) == ("Right cochlea", "Left cochlea")
    assert first.segmented_property_category.value == "91723000"
    assert first.segmented_property_type.value == "80169004"
    assert first.segmented_property_type.scheme_designator == "SCT"
    modifier = "SegmentedPropertyTypeModifierCodeSequence"
    assert getattr(first.SegmentedPropertyTypeCodeSequence[0], modifier)[0].CodeValue == "24028007"  # right
    assert getattr(sixth.SegmentedPropertyTypeCodeSequence[0], modifier)[0].CodeValue == "7771000"  # left
    assert sixth.AnatomicRegionSequence[0].AnatomicRegionModifierSequence[0].CodeValue == "7771000"
    assert first.anatomic_regions[0].value == "22945000"
    assert seg.get_segment_description(2).segmented_property_type.scheme_designator == "99IESEG"
    assert "99IESEG" in {s.CodingSchemeDesignator for s in seg.CodingSchemeIdentificationSequence}
    algorithm = first.algorithm_identification[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("tiny", "0.0.7")

    # geometry: voxel for voxel the label map, segment k = two-ear label (1-5 right, 11-15 left)
    labels = sitk.ReadImage(str(out / "labels.nii.gz"))
    back = _volume_image(seg.get_volume(combine_segments=True))
    np.testing.assert_allclose(back.GetSpacing(), labels.GetSpacing(), atol=1e-6)
    on_labels = sitk.Resample(back, labels, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    index = labels.TransformPhysicalPointToContinuousIndex(back.GetOrigin())
    np.testing.assert_allclose(index, np.round(index), atol=1e-3)  # the SEG grid is the label grid
    to_segment = np.zeros(16, np.uint8)
    to_segment[[1, 2, 3, 4, 5, 11, 12, 13, 14, 15]] = np.arange(1, 11)
    expected = to_segment[sitk.GetArrayFromImage(labels)]
    assert np.count_nonzero(expected) > 0
    assert back.GetSize() == labels.GetSize()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(on_labels), expected)


def test_dicom_seg_on_a_nifti_input_is_refused_before_any_work(small_cts, tiny_model, tmp_path, capsys):
    ct = tmp_path / "c_ct.nii.gz"
    sitk.WriteImage(small_cts["case22"], str(ct))
    assert main(["segment", str(ct), "-o", str(tmp_path / "out"), "--model", str(tiny_model), "--no-meshes",
                 "--dicom-seg", "--progress", "none"]) == 1
    assert "needs a DICOM input" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
