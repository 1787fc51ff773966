"""The full two-ear CT: grid, sides, labels, landmarks, tissue HU and the sidecar."""
import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from InnerEarSegLib.labels import Structure


def test_ct_and_labels_share_one_axial_lps_grid(small_full_case):
    ct, lab, meta = small_full_case
    assert ct.GetSize() == lab.GetSize() == (352, 352, 96)
    assert ct.GetSpacing() == lab.GetSpacing() and ct.GetOrigin() == lab.GetOrigin()
    assert ct.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert ct.GetPixelID() == sitk.sitkInt16 and lab.GetPixelID() == sitk.sitkUInt8
    assert meta["grid"]["shape_zyx"] == [96, 352, 352]


def test_both_ears_are_labelled_with_right_one_to_five_and_left_eleven_to_fifteen(small_full_case):
    _, lab, meta = small_full_case
    values = set(np.unique(sitk.GetArrayViewFromImage(lab)).tolist())
    assert values == {0, 1, 2, 3, 4, 5, 11, 12, 13, 14, 15}
    assert [e["side"] for e in meta["ears"]] == ["right", "left"]
    assert all(e["likert"] == 1 for e in meta["ears"])


def test_left_labyrinth_lies_on_the_patients_left_in_world_coordinates(small_full_case):
    _, lab, meta = small_full_case
    arr = sitk.GetArrayViewFromImage(lab)
    centroid = {}
    for side, (lo, hi) in (("right", (1, 5)), ("left", (11, 15))):
        idx = np.argwhere((arr >= lo) & (arr <= hi)).mean(axis=0)[::-1]
        centroid[side] = np.array(lab.TransformContinuousIndexToPhysicalPoint(idx.tolist()))
    assert centroid["left"][0] > centroid["right"][0] + 50.0  # LPS: +x is the patient's left
    dist = np.linalg.norm(centroid["left"] - centroid["right"])
    assert 56.0 <= dist <= 74.0  # each labyrinth 30-35 mm from the mid-sagittal plane
    for ear in meta["ears"]:  # the sidecar's centre is where the labels are
        assert np.linalg.norm(np.array(ear["labyrinth_centre_lps_mm"]) - centroid[ear["side"]]) < 3.0


def test_landmarks_are_inside_the_image_at_anatomical_distances(small_full_case):
    ct, _, meta = small_full_case
    size = np.array(ct.GetSize())
    for ear in meta["ears"]:
        lm = {k: np.array(v) for k, v in ear["landmarks_lps_mm"].items()}
        for name in ("cochlear_apex", "round_window", "oval_window", "superior_arc_centre", "lateral_arc_centre",
                     "posterior_arc_centre", "labyrinth_centre"):
            idx = np.array(ct.TransformPhysicalPointToContinuousIndex(lm[name].tolist()))
            assert np.all(idx >= 0) and np.all(idx < size), (ear["side"], name)
        assert 5.8 <= np.linalg.norm(lm["cochlear_apex"] - lm["oval_window"]) <= 8.0  # published 6.3-7.0
        assert 1.8 <= np.linalg.norm(lm["round_window"] - lm["oval_window"]) <= 4.0  # published ~2.9


def test_tissue_intensities_match_temporal_bone_ct(small_full_case):
    ct, lab, meta = small_full_case
    a = sitk.GetArrayViewFromImage(ct).astype(np.float32)
    labels = sitk.GetArrayViewFromImage(lab)
    fluid = ndimage.binary_erosion(labels > 0)
    shell = ndimage.binary_dilation(labels > 0, iterations=2) & ~ndimage.binary_dilation(labels > 0)
    assert -150 < np.median(a[fluid]) < 500  # fluid 0-50 HU, raised by partial volume and blur
    assert np.median(a[shell]) > 1500  # dense otic capsule (> 2000 before blur)
    assert np.median(a[0, :8, :8]) < -900  # air outside the head in the corner
    assert a.min() >= -1024 and a.max() <= 3071
    # brain: the commonest value between -100 and 150 HU sits at brain density
    soft = a[(a > -100) & (a < 150)]
    hist, edges = np.histogram(soft, bins=50)
    mode = edges[np.argmax(hist)] + 0.5 * (edges[1] - edges[0])
    assert -40 < mode < 110


def test_noise_in_a_homogeneous_region_matches_the_protocol(small_full_case):
    ct, _, meta = small_full_case
    a = sitk.GetArrayViewFromImage(ct).astype(np.float32)
    # brain patches far from bone: the lowest-variance 12x12 patches of the middle slice
    mid = a[a.shape[0] // 2]
    sds = []
    for y in range(0, mid.shape[0] - 12, 12):
        for x in range(0, mid.shape[1] - 12, 12):
            p = mid[y:y + 12, x:x + 12]
            if -50 < p.mean() < 150:
                sds.append(p.std())
    measured = float(np.percentile(sds, 25))
    expected = meta["physics"]["noise_sd_hu"] * meta["physics"]["hu_gain"]
    assert 0.6 * expected < measured < 1.3 * expected, (measured, expected)


def test_sidecar_holds_every_drawn_parameter_and_is_plain_json(small_full_case):
    _, _, meta = small_full_case
    text = json.dumps(meta, sort_keys=True)
    back = json.loads(text)
    assert back["protocol"] == "mdct" and back["fov"] == "both"
    for ear in back["ears"]:
        assert set(ear["structures_present"]) == {s.key for s in Structure}
        assert ear["likert"] in (1, 2, 3, 4)
        assert "cochlea_turns" in ear["anatomy"] and "lateral_canal_pitch_deg" in ear["anatomy"]
        assert "noise_seed" in ear["surroundings"]
    for key in ("spacing_mm", "psf_fwhm_mm", "noise_sd_hu", "hu_offset"):
        assert key in back["physics"]
    assert "pose_deg" in back["head"] and "otic_capsule" in back["tissue_hu"]


def test_single_ear_field_of_view_holds_only_that_ear():
    from InnerEarSegLib.phantom import generate

    _, lab, meta = generate(4, fov="right", matrix=160, slices=48)
    values = set(np.unique(sitk.GetArrayViewFromImage(lab)).tolist())
    assert values <= {0, 1, 2, 3, 4, 5} and {1, 2} <= values
    assert [e["side"] for e in meta["ears"]] == ["right"]


def test_incomplete_scan_ends_below_the_top_of_the_superior_canal():
    from InnerEarSegLib.phantom import generate

    ct, lab, meta = generate(6, pathologies=("incomplete_fov@left",), matrix=320, slices=64)
    top_z = ct.TransformIndexToPhysicalPoint((0, 0, ct.GetSize()[2] - 1))[2]
    left = next(e for e in meta["ears"] if e["side"] == "left")
    assert left["landmarks_lps_mm"]["superior_canal_top"][2] > top_z
    assert left["structures_present"]["superior"] == "incomplete" and left["likert"] >= 2


@pytest.mark.parametrize("bad", [dict(protocol="pet"), dict(fov="middle"), dict(pathologies=("warts",)),
                                 dict(pathologies=("scd@up",))])
def test_bad_options_are_refused_with_a_clear_message(bad):
    from InnerEarSegLib.phantom import generate

    with pytest.raises(ValueError):
        generate(0, matrix=32, slices=16, **bad)


def test_exact_labels_on_the_cts_own_grid_equal_the_generated_labels():
    from InnerEarSegLib.phantom.generate import generate, labels_on_grid

    _, lab, _ = generate(11, fov="left", matrix=160, slices=64, pathologies=("scd",))
    again = labels_on_grid(11, lab, fov="left", pathologies=("scd",))
    assert np.array_equal(sitk.GetArrayViewFromImage(again), sitk.GetArrayViewFromImage(lab))


def test_exact_labels_on_a_finer_grid_have_the_same_volume_in_mm3(small_full_case):
    from InnerEarSegLib.phantom.generate import labels_on_grid

    _, lab, _ = small_full_case
    fine = sitk.Image([int(round(n * s / 0.3)) for n, s in zip(lab.GetSize(), lab.GetSpacing())], sitk.sitkUInt8)
    fine.SetSpacing([0.3] * 3)
    fine.SetOrigin(lab.GetOrigin())
    on_fine = labels_on_grid(11, fine)
    for value in (1, 2, 11, 12):  # cochlea and vestibule of both ears: thick enough to agree within 5 %
        coarse_mm3 = np.count_nonzero(sitk.GetArrayViewFromImage(lab) == value) * np.prod(lab.GetSpacing())
        fine_mm3 = np.count_nonzero(sitk.GetArrayViewFromImage(on_fine) == value) * 0.3 ** 3
        assert fine_mm3 == pytest.approx(coarse_mm3, rel=0.05)
